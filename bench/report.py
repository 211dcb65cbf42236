"""Markdown tables and PNG plots from a results JSON.

``python -m bench.report [--readme] bench/results/<date>.json`` redraws them;
``bench.run`` calls ``write`` at the end of every run.
"""

import json
import re
import sys
from pathlib import Path

README = Path(__file__).with_name("README.md")
README_START = "<!-- bench:latest:start -->"
README_END = "<!-- bench:latest:end -->"

OUR_OPS = {
    "check": "membership check",
    "check-basic": "check (Basic, cached)",
    "group": "group",
    "page-first": "members, first page",
    "page-late": "members, late page",
    "user-groups": "user's groups (50, nested)",
    "add": "add member",
    "remove": "remove member",
    "check-jwt": "check (JWT bearer)",
    "check-subscribed": "check, webhook subscribed",
    "add-subscribed": "add, webhook subscribed",
    "check-metrics-on": "check, metrics on",
    "check-metrics-off": "check, metrics off",
    "add-production": "add, production.ini settings",
    "scim-filter": "SCIM Users?filter=userName eq",
    "scim-patch": "SCIM member PATCH",
    "checks-batch": "batch checks (100 per request)",
}
# Measured against the previous release too (issue 18).
PREVIOUS_OPS = ("check", "add", "page-late", "user-groups")
ADD_OBJECTS, ADD_BYTES = 5, 2_500  # issue 18: an add writes at most 5 objects, 2.5 KB
PAGE_OBJECTS = 10  # issue 18: a page of 100 members loads at most 10 objects cold
CHECK_OF_PYRAMID = 0.70  # issue 18: the check at >= 70 % of the minimal Pyramid ACL view
BATCH_QUESTIONS = 100  # questions per POST /checks (bench.extras.QUESTIONS)
KINTO_OPS = {
    "group": "GET group record",
    "user-groups": "groups?contains_members=",
    "add": "PATCH add member",
}
# Our operation -> Kinto's equivalent (Kinto reads the whole record to check or page).
PEER = {
    "check": "group",
    "group": "group",
    "page-first": "group",
    "page-late": "group",
    "user-groups": "user-groups",
    "add": "add",
}


class Results:
    def __init__(self, data: dict):
        self.data = data
        self.rows = {(r["server"], r["op"], r["size"]): r for r in data["results"]}
        self.sizes = sorted({r["size"] for r in data["results"] if r["size"]})

    def median(self, server, op, size=None) -> dict | None:
        row = self.rows.get((server, op, size))
        return row["median"] if row else None

    def rps(self, server, op, size=None) -> float | None:
        """2xx answers per second, median of the runs."""
        median = self.median(server, op, size)
        return median["rps"] if median else None

    def pyramid_beside(self, server, op, size) -> float | None:
        """The minimal Pyramid app's 2xx/s from the slices alternating with this case
        (``bench.run`` runs it beside the check at each size); None if it did not."""
        row = self.rows.get((server, op, size))
        ceiling = self.rows.get(("pyramid", "ceiling", size))
        if not row or not ceiling or not row.get("slices") or not ceiling["median"]:
            return None
        return ceiling["median"]["rps"] if row["slices"] == ceiling.get("slices") else None

    def check_of_pyramid(self, size) -> tuple[float | None, float | None, bool]:
        """``(check 2xx/s, minimal Pyramid 2xx/s, alternating?)`` at ``size``: the
        Pyramid figure from the slices alternating with the check when there are
        some, else the one measured once at the start of the run."""
        check = self.rps("ours", "check", size)
        beside = self.pyramid_beside("ours", "check", size)
        if beside is not None:
            return check, beside, True
        return check, self.rps("pyramid", "ceiling"), False

    def vs(self, op, peer, size, digits=1) -> tuple[str, float | None]:
        """Ours / Kinto as text, and as a number (a lower bound if Kinto answered nothing)."""
        a, b = self.rps("ours", op, size), self.rps("kinto", peer, size)
        seconds = (self.median("kinto", peer, size) or {}).get("seconds")
        text = ratio(a, b, digits, seconds)
        if a and b == 0 and seconds:
            return text, a * seconds
        return text, (a / b if a and b else None)


def fmt(value, digits=0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def ratio(a, b, digits=1, b_seconds=None) -> str:
    """``a / b``; when ``b`` completed nothing in ``b_seconds``, the bound that implies."""
    if a is None or b is None:
        return "-"
    if b == 0:
        if a and b_seconds:
            return f"> {a * b_seconds:,.0f}x (none answered in {b_seconds:.0f} s)"
        return "- (none answered)"
    return f"{a / b:,.{digits}f}x"


def percent(a, b) -> str:
    return "-" if a is None or not b else f"{100 * a / b:.0f}%"


def errors_cell(row) -> str:
    if not row or not row["runs"]:
        return "-"
    total = sum(r["errors"] for r in row["runs"])
    if not total:
        return "0"
    statuses = {}
    for run in row["runs"]:
        for status, n in run["statuses"].items():
            if not status.startswith("2"):
                statuses[status] = statuses.get(status, 0) + n
        for kind, n in run["socket_errors"].items():
            if n:
                statuses[kind] = statuses.get(kind, 0) + n
    return f"**{total}** ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))})"


def markdown(data: dict, plots: list[str]) -> str:
    res = Results(data)
    m, s, settings = data["machine"], data["software"], data["settings"]
    mode, load = settings["mode"], settings["load"]
    lines = [
        f"# membership benchmark, {data['date']} ({data['mode']} mode)",
        "",
        f"`{data['command']}` on {m.get('cpus')} CPU cores ({m.get('cpu_model', '?')}), "
        f"{m.get('memory_gib', '?')} GiB, Python {m.get('python')}; "
        f"took {data['elapsed_s'] / 60:.1f} min. "
        f"wrk ({s['wrk']}), {load['connections']} connections, {load['threads']} wrk thread, "
        f"{mode['duration']:g} s per run, {mode['runs']} run(s) per case, medians shown; "
        "2xx/s counts successful answers only, errors are listed beside them. "
        f"Every server: waitress `threads = {settings['waitress'].get('threads', '?')}` "
        f"(development.ini's `[server:main]`), logging at WARNING. "
        f"membership {s['membership']}: {settings['kind']} "
        f"Kinto {s.get('kinto') or '-'}: memory backends, basic auth.",
        "",
    ]
    loads = [run["loadavg"] for row in data["results"] for run in row["runs"]]
    if loads:
        lines += [
            f"Load average (1 min) just before each run: {min(loads):.1f} to {max(loads):.1f} "
            "(the bench itself, server plus wrk, accounts for about 1.5 of it; more means "
            "something else was using the 2 cores, and the figures are low by that much).",
            "",
        ]
    if data.get("failure"):
        lines += [f"**The run stopped early: {data['failure']}**", ""]

    bare, pyramid = res.rps("bare", "ceiling"), res.rps("pyramid", "ceiling")
    lines += [
        "## Ceiling",
        "",
        "| app | 2xx/s | p50 ms | p99 ms | errors |",
        "|---|--:|--:|--:|--:|",
    ]
    for server, label in (
        ("bare", "bare WSGI, constant 60-byte JSON"),
        ("pyramid", "minimal Pyramid: traversal + `__acl__` + token policy"),
    ):
        med = res.median(server, "ceiling")
        row = res.rows.get((server, "ceiling", None))
        lines.append(
            f"| {label} | {fmt(med and med['rps'])} | {fmt(med and med['p50_ms'], 2)} "
            f"| {fmt(med and med['p99_ms'], 2)} | {errors_cell(row)} |"
        )
    for size in res.sizes:
        row = res.rows.get(("pyramid", "ceiling", size))
        if row and row["median"]:
            med = row["median"]
            lines.append(
                f"| minimal Pyramid, in slices alternating with the check at {size:,} members "
                f"| {fmt(med['rps'])} | {fmt(med['p50_ms'], 2)} | {fmt(med['p99_ms'], 2)} "
                f"| {errors_cell(row)} |"
            )

    lines += [
        "",
        "## membership",
        "",
        "| case | members | 2xx/s | p50 ms | p99 ms | % of bare WSGI | % of minimal Pyramid "
        "| % of minimal Pyramid, alternating | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for op, label in OUR_OPS.items():
        for size in res.sizes:
            row = res.rows.get(("ours", op, size))
            if not row:
                continue
            med = row["median"] or {}
            rps = med.get("rps")
            lines.append(
                f"| {label} `{row['request']}` | {size:,} | {fmt(rps)} "
                f"| {fmt(med.get('p50_ms'), 2)} | {fmt(med.get('p99_ms'), 2)} "
                f"| {percent(rps, bare)} | {percent(rps, pyramid)} "
                f"| {percent(rps, res.pyramid_beside('ours', op, size))} | {errors_cell(row)} |"
            )
    lines += [
        "",
        "The first two percentages divide by the ceiling measured once, at the start of "
        "the run; the last by the minimal Pyramid app run in slices alternating with the "
        "case (the checks, at each size), so both sides saw the same machine.",
    ]
    lines += check_of_pyramid_section(res)

    if any(r["op"] == "check-basic" for r in data["results"]):
        lines += [
            "",
            "## Basic (cached) against a token",
            "",
            "The same membership check, with `Authorization: Bearer <token>` and with the "
            "admin's password on every request (argon2 once, then the process's cache of "
            "verified logins, `membership.auth.basic_cache_seconds`).",
            "",
            "| members | token 2xx/s | Basic 2xx/s | Basic / token | token p50 ms | Basic p50 ms |",
            "|--:|--:|--:|--:|--:|--:|",
        ]
        for size in res.sizes:
            token = res.median("ours", "check", size) or {}
            cached = res.median("ours", "check-basic", size) or {}
            if not token and not cached:
                continue
            lines.append(
                f"| {size:,} | {fmt(token.get('rps'))} | {fmt(cached.get('rps'))} "
                f"| {ratio(cached.get('rps'), token.get('rps'), 2)} "
                f"| {fmt(token.get('p50_ms'), 2)} | {fmt(cached.get('p50_ms'), 2)} |"
            )

    lines += writecost_section(data)
    lines += previous_section(data, res)
    lines += variants_section(res)
    lines += throughput_section(data, res)

    if any(r["server"] == "kinto" for r in data["results"]):
        lines += [
            "",
            "## Kinto (the peer)",
            "",
            "| operation | members | 2xx/s | p50 ms | p99 ms | errors |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for op, label in KINTO_OPS.items():
            for size in res.sizes:
                row = res.rows.get(("kinto", op, size))
                if not row:
                    continue
                med = row["median"] or {}
                lines.append(
                    f"| {label} `{row['request']}` | {size:,} | {fmt(med.get('rps'), 1)} "
                    f"| {fmt(med.get('p50_ms'), 1)} | {fmt(med.get('p99_ms'), 1)} "
                    f"| {errors_cell(row)} |"
                )
        lines += [
            "",
            "## membership / Kinto (throughput)",
            "",
            "| our operation | Kinto's equivalent | "
            + " | ".join(f"{n:,}" for n in res.sizes)
            + " |",
            "|---|---|" + "--:|" * len(res.sizes),
        ]
        for op, peer in PEER.items():
            cells = [res.vs(op, peer, n)[0] for n in res.sizes]
            lines.append(f"| {OUR_OPS[op]} | {KINTO_OPS[peer]} | " + " | ".join(cells) + " |")

    lines += ["", "## Targets (issue 7)", "", "| target | measured | met? |", "|---|--:|:-:|"]
    lines += [f"| {t} | {v} | {ok} |" for t, v, ok in targets(res)]
    lines += ["", "## Targets (issues 10, 13, 15, 16, 18)", "", "| target | measured | met? |"]
    lines += ["|---|--:|:-:|"]
    lines += [f"| {t} | {v} | {ok} |" for t, v, ok in new_targets(data, res)]

    notes = [
        f"- {row['server']} {row['op']} ({row['size']:,}): {note}"
        for row in data["results"]
        for note in row["notes"]
    ]
    notes += [f"- skipped: {s}" for s in data.get("skipped", [])]
    if notes:
        lines += ["", "## Notes", "", *notes]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def check_of_pyramid_section(res: Results) -> list[str]:
    """Issue 18's check target, at every size, from interleaved slices."""
    rows = []
    for size in res.sizes:
        check, pyramid, alternating = res.check_of_pyramid(size)
        if check is None or not alternating:
            continue
        previous = res.rps("previous", "check", size)
        beside = res.pyramid_beside("previous", "check", size)
        rows.append(
            f"| {size:,} | {fmt(check)} | {fmt(pyramid)} | {percent(check, pyramid)} "
            f"| >= {CHECK_OF_PYRAMID:.0%} | {met(quotient(check, pyramid), CHECK_OF_PYRAMID)} "
            f"| {percent(previous, beside)} |"
        )
    if not rows:
        return []
    return [
        "",
        "## The check against the minimal Pyramid ACL view (issue 18)",
        "",
        "The membership check and the minimal Pyramid app (traversal, `__acl__`, token "
        "policy) in slices alternating with each other, and with the previous release's "
        "check, at each size.",
        "",
        "| members | check 2xx/s | minimal Pyramid 2xx/s | check / Pyramid | target | met? "
        "| previous release's check / Pyramid |",
        "|--:|--:|--:|--:|--:|:-:|--:|",
        *rows,
    ]


def writecost_section(data: dict) -> list[str]:
    cost = data.get("writecost")
    if cost is None:
        return []
    lines = [
        "",
        "## Objects and bytes per write (issue 18)",
        "",
        "What one operation's transaction writes to a FileStorage, counted from the "
        "transaction record (`bench/writecost.py`, in process). Target for an add: at most "
        f"{ADD_OBJECTS} objects and {ADD_BYTES:,} bytes.",
        "",
    ]
    if cost.get("missing"):
        return [*lines, f"Not measured: {cost['missing']}."]
    if cost.get("members"):
        lines += [f"In a group of {cost['members']:,} members.", ""]
    lines += ["| operation | objects | bytes |", "|---|--:|--:|"]
    lines += [f"| {r['operation']} | {r['objects']:,} | {r['bytes']:,} |" for r in cost["rows"]]
    if cost.get("page_cold_objects") is not None:
        lines += [
            "",
            f"A page of 100 members loads {cost['page_cold_objects']} objects on a cold "
            f"connection (target: at most {PAGE_OBJECTS}).",
        ]
    if cost.get("adds_per_second") is not None:
        cpu = cost.get("cpu_ms_per_add")
        cpu_text = f", {cpu} ms of CPU each" if cpu is not None else ""
        lines += ["", f"Sequential adds in process: {cost['adds_per_second']:,}/s{cpu_text}."]
    return lines


def previous_section(data: dict, res: Results) -> list[str]:
    previous = data.get("previous")
    if not previous:
        return []
    lines = ["", "## Against the previous release (issue 18)", ""]
    if previous.get("missing"):
        return [*lines, f"Not measured: {previous['missing']}."]
    lines += [
        f"The release in `bench/baseline.txt` ({previous['commit']}), built with `git worktree` "
        "into `var/bench/baseline` with its own virtualenv, loaded with its own "
        "`initialize_membership_db` and `import_members`, served by the same waitress "
        "settings on the same kind of FileStorage, in the same run.",
        "",
    ]
    loads = [i for i in data.get("imports") or [] if i["server"] == "previous"]
    if loads:
        lines += [
            "Its `import_members` loaded "
            + ", ".join(
                f"{i['size']:,} members (and the add pool) in {i['seconds']:,} s" for i in loads
            )
            + ".",
            "",
        ]
    lines += [
        "| operation | members | current 2xx/s | previous 2xx/s | current / previous "
        "| current p50 ms | previous p50 ms | errors (current, previous) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for op in PREVIOUS_OPS:
        for size in res.sizes:
            prev = res.median("previous", op, size)
            if prev is None:
                continue
            cur = res.median("ours", op, size) or {}
            lines.append(
                f"| {OUR_OPS[op]} | {size:,} | {fmt(cur.get('rps'))} | {fmt(prev['rps'])} "
                f"| {ratio(cur.get('rps'), prev['rps'], 2)} | {fmt(cur.get('p50_ms'), 2)} "
                f"| {fmt(prev['p50_ms'], 2)} | {errors_cell(res.rows.get(('ours', op, size)))}, "
                f"{errors_cell(res.rows.get(('previous', op, size)))} |"
            )
    return lines


# (label, case measured, case compared with, the issue's lower bound on the ratio)
VARIANTS = (
    ("check: JWT bearer / PAT (issue 15)", "check-jwt", "check", 0.90),
    ("check: webhook subscribed / none (issue 13)", "check-subscribed", "check", 0.95),
    ("add: webhook subscribed / none (issue 13)", "add-subscribed", "add", 0.95),
    ("check: metrics on / off (issue 16)", "check-metrics-on", "check-metrics-off", 0.95),
)


def variants_section(res: Results) -> list[str]:
    rows = []
    for label, op, base, bound in VARIANTS:
        for size in res.sizes:
            a, b = res.median("ours", op, size), res.median("ours", base, size)
            if a is None or b is None:
                continue
            rows.append(
                f"| {label} | {size:,} | {fmt(a['rps'])} | {fmt(b['rps'])} "
                f"| {ratio(a['rps'], b['rps'], 2)} | >= {bound:.2f} |"
            )
    lines = []
    if rows:
        lines += [
            "",
            "## Same server, one thing changed",
            "",
            "Each pair ran on the same data, alternating slice by slice: the PAT and JWT "
            "checks on one server; with a webhook subscription (its dispatcher thread "
            "delivering to the bench's loopback receiver meanwhile) and metrics off, on a "
            "second server over a copy of the database, beside the first.",
            "",
            "| comparison | members | 2xx/s | compared with, 2xx/s | ratio | target |",
            "|---|--:|--:|--:|--:|--:|",
            *rows,
        ]
    row = next((r for r in res.data["results"] if r["op"] == "add-production"), None)
    if row and row["runs"]:
        med = row["median"]
        statuses = {}
        for run in row["runs"]:
            for status, n in run["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        total = sum(statuses.values())
        n503 = statuses.get("503", 0)
        kinto_text, _ = res.vs("add-production", "add", row["size"])
        lines += [
            "",
            "## Add under production settings (issue 18)",
            "",
            f"{row['notes'][0] if row['notes'] else ''}; 16 connections, {row['size']:,} members.",
            "",
            "| 2xx/s | p50 ms | p99 ms | answers | 503 | 503 rate | / Kinto add (same run) |",
            "|--:|--:|--:|--:|--:|--:|--:|",
            f"| {fmt(med['rps'])} | {fmt(med['p50_ms'], 2)} | {fmt(med['p99_ms'], 2)} "
            f"| {total:,} | {n503:,} | {percent_exact(n503, total)} "
            f"| {kinto_text} |",
        ]
    return lines


def percent_exact(a, b) -> str:
    return "-" if not b else f"{100 * a / b:.2f}%"


def throughput_section(data: dict, res: Results) -> list[str]:
    lines = []
    feed = data.get("throughput") or []
    if feed:
        lines += [
            "",
            "## Change feed and webhooks (issue 13)",
            "",
            "| what | count | seconds | rate |",
            "|---|--:|--:|--:|",
        ]
        lines += [
            f"| {row['what']} | {row['count']:,} | {row['seconds']:.2f} "
            f"| {fmt(row['rate'])} {row['unit']} |"
            for row in feed
        ]
    rows = []
    for op in ("scim-filter", "scim-patch", "checks-batch"):
        for size in res.sizes:
            row = res.rows.get(("ours", op, size))
            if not row:
                continue
            med = row["median"] or {}
            answers = ""
            if op == "checks-batch" and med.get("rps") is not None:
                answers = f"{fmt(med['rps'] * BATCH_QUESTIONS)} answers/s"
            rows.append(
                f"| {OUR_OPS[op]} `{row['request']}` | {size:,} | {fmt(med.get('rps'))} "
                f"| {answers} | {fmt(med.get('p50_ms'), 2)} | {fmt(med.get('p99_ms'), 2)} "
                f"| {errors_cell(row)} |"
            )
    skipped = [s for s in data.get("skipped", []) if "scim" in s or "checks" in s]
    if rows or skipped:
        lines += ["", "## SCIM (issue 14) and batch checks (issue 18)", ""]
    if rows:
        lines += [
            "| case | members | 2xx/s | answers/s | p50 ms | p99 ms | errors |",
            "|---|--:|--:|--:|--:|--:|--:|",
            *rows,
        ]
    lines += [f"- skipped: {s}" for s in skipped]
    return lines


def new_targets(data: dict, res: Results) -> list[tuple[str, str, str]]:
    """Issues 10, 13, 15, 16 and 18: each target with what this run measured."""
    rows = []
    cost = data.get("writecost") or {}
    add_cost = next((r for r in cost.get("rows", []) if r["operation"] == "add"), None)
    if cost:
        rows.append(
            (
                f"an add writes <= {ADD_OBJECTS} objects and <= {ADD_BYTES:,} bytes",
                f"{add_cost['objects']} objects, {add_cost['bytes']:,} bytes"
                if add_cost
                else "not measured",
                "n/a"
                if add_cost is None
                else met(
                    add_cost["objects"] <= ADD_OBJECTS and add_cost["bytes"] <= ADD_BYTES, True
                ),
            )
        )
    if cost.get("page_cold_objects") is not None:
        loads = cost["page_cold_objects"]
        rows.append(
            (
                f"a page of 100 members loads <= {PAGE_OBJECTS} objects cold",
                f"{loads} objects",
                met(loads, PAGE_OBJECTS, at_least=False),
            )
        )
    for size in res.sizes or [1_000]:
        check, pyramid, alternating = res.check_of_pyramid(size)
        if size != 1_000 and not alternating:
            continue
        how = "alternating" if alternating else "measured at the start of the run"
        rows.append(
            (
                f"check at {size:,} >= {CHECK_OF_PYRAMID:.0%} of minimal Pyramid ACL view ({how})",
                percent(check, pyramid),
                met(quotient(check, pyramid), CHECK_OF_PYRAMID),
            )
        )
    for op, bound, issue in (("check", 0.95, 10), ("add", 0.95, 10), ("add", 2.0, 18)):
        for size in res.sizes:
            if res.median("previous", op, size) is None:
                continue
            a, b = res.rps("ours", op, size), res.rps("previous", op, size)
            rows.append(
                (
                    f"{OUR_OPS[op]} at {size:,}: current / previous release >= {bound:g} "
                    f"(issue {issue})",
                    ratio(a, b, 2),
                    met(quotient(a, b), bound),
                )
            )
    prod = res.rows.get(("ours", "add-production", 1_000))
    if prod and prod["runs"]:
        text, value = res.vs("add-production", "add", 1_000)
        rows.append(("add (production settings) >= 3x Kinto add at 1,000", text, met(value, 3)))
        total = sum(n for run in prod["runs"] for n in run["statuses"].values())
        n503 = sum(run["statuses"].get("503", 0) for run in prod["runs"])
        rows.append(
            (
                "add (production settings, 16 connections): 0 % 503",
                percent_exact(n503, total),
                met(n503 == 0, True),
            )
        )
    batch = res.rps("ours", "checks-batch", 1_000)
    rows.append(
        (
            f"batch checks at 1,000 ({BATCH_QUESTIONS} per request) >= 20,000 answers/s",
            fmt(batch * BATCH_QUESTIONS) if batch else "not measured",
            met(batch * BATCH_QUESTIONS, 20_000) if batch else "n/a",
        )
    )
    for label, op, base, bound in VARIANTS:
        size = min(res.sizes) if res.sizes else None
        a, b = res.rps("ours", op, size), res.rps("ours", base, size)
        if a is None or b is None:
            continue
        rows.append((f"{label} at {size:,} >= {bound:.2f}", ratio(a, b, 2), met(a / b, bound)))
    return rows


def met(value, bound, at_least=True) -> str:
    if value is None:
        return "n/a"
    return "yes" if (value >= bound if at_least else value <= bound) else "**no**"


def quotient(a, b):
    return a / b if a and b else None


def targets(res: Results) -> list[tuple[str, str, str]]:
    """The issue's targets, each with what this run measured."""
    check, pyramid, _ = res.check_of_pyramid(1_000)
    rows = [
        (
            "check at 1,000 >= 60% of minimal Pyramid ACL view",
            percent(check, pyramid),
            met(quotient(check, pyramid), 0.6),
        )
    ]
    for op, peer, size, bound in (
        ("check", "group", 1_000, 3),
        ("add", "add", 1_000, 3),
        ("add", "add", 100_000, 30),
    ):
        text, value = res.vs(op, peer, size)
        rows.append(
            (
                f"{OUR_OPS[op]} >= {bound}x Kinto {KINTO_OPS[peer]} at {size:,}",
                text,
                met(value, bound),
            )
        )
    if 1_000_000 not in res.sizes:
        rows.append(("1,000,000 within 1.5x of 1,000 (check/add/page)", "full mode only", "n/a"))
        return rows
    for op in ("check", "add", "page-first", "page-late"):
        a, b = res.rps("ours", op, 1_000), res.rps("ours", op, 1_000_000)
        rows.append(
            (
                f"{OUR_OPS[op]}: req/s at 1,000 / at 1,000,000 <= 1.5",
                ratio(a, b, 2),
                met(quotient(a, b), 1.5, at_least=False),
            )
        )
    return rows


def plot(data: dict, stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = Results(data)
    written = []

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    panels = (
        ("membership check", [("ours", "check", "membership check")]),
        ("add member", [("ours", "add", "membership add")]),
        (
            "members page (limit=100)",
            [("ours", "page-first", "membership first page"), ("ours", "page-late", "late page")],
        ),
    )
    peers = {"membership check": "group", "add member": "add", "members page (limit=100)": "group"}
    for ax, (title, series) in zip(axes, panels, strict=True):
        colours = iter(["tab:blue", "tab:green", "tab:purple"])
        kinto_op = peers[title]
        series = [*series, ("kinto", kinto_op, f"Kinto {KINTO_OPS[kinto_op]}")]
        for server, op, label in series:
            colour = "tab:orange" if server == "kinto" else next(colours)
            xs, p50, p99 = [], [], []
            for size in res.sizes:
                med = res.median(server, op, size)
                if med and med["p50_ms"] is not None:
                    xs.append(size)
                    p50.append(med["p50_ms"])
                    p99.append(med["p99_ms"])
            if xs:
                ax.plot(xs, p50, "o-", color=colour, label=f"{label} p50")
                ax.plot(xs, p99, "s--", color=colour, alpha=0.7, label=f"{label} p99")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("members in the group")
        ax.set_ylabel("latency, ms (log)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle(f"Latency vs group size, 16 connections ({data['date']}, {data['mode']})")
    fig.tight_layout()
    path = stem.with_name(stem.name + "-latency.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(11, 5))
    ops = [op for op in OUR_OPS if any(res.rps("ours", op, n) for n in res.sizes)]
    width = 0.8 / max(1, len(res.sizes))
    pyramid = res.rps("pyramid", "ceiling")
    for i, size in enumerate(res.sizes):
        values = [res.rps("ours", op, size) or 0 for op in ops]
        xs = [j + (i - (len(res.sizes) - 1) / 2) * width for j in range(len(ops))]
        bars = ax.bar(xs, values, width, label=f"membership, {size:,} members")
        # The Pyramid app measured beside the check at this size, where it was.
        ceiling = res.check_of_pyramid(size)[1] or pyramid
        if ceiling:
            labels = [f"{100 * v / ceiling:.0f}%" if v else "" for v in values]  # "": not run
            ax.bar_label(bars, labels, fontsize=7, padding=1)
    for server, style, label in (
        ("bare", ":", "bare WSGI"),
        ("pyramid", "--", "minimal Pyramid ACL"),
    ):
        rps = res.rps(server, "ceiling")
        if rps:
            ax.axhline(rps, color="black", linestyle=style, label=f"{label}: {rps:,.0f} req/s")
    ax.set_xticks(range(len(ops)), [OUR_OPS[op] for op in ops], rotation=20, ha="right")
    ax.set_ylabel(
        "2xx/s (median); labels: % of the minimal Pyramid ACL view\n"
        "(run beside the check at each size)"
    )
    ax.set_title(f"Throughput against the ceiling ({data['date']}, {data['mode']})")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path = stem.with_name(stem.name + "-throughput.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


def write(json_path: Path, update_readme: bool = False) -> list[Path]:
    data = json.loads(json_path.read_text())
    stem = json_path.with_suffix("")
    pngs = plot(data, stem)
    md = markdown(data, [p.name for p in pngs])
    md_path = stem.with_suffix(".md")
    md_path.write_text(md)
    if update_readme and README.exists():
        body = md.split("\n", 1)[1].replace("](" + stem.name, "](results/" + stem.name)
        body = body.replace("\n## ", "\n### ")  # under the README's own "## Latest results"
        block = (
            f"{README_START}\nLatest full run: [results/{md_path.name}](results/{md_path.name})\n"
            f"{body}{README_END}"
        )
        text = README.read_text()
        pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
        if pattern.search(text):
            README.write_text(pattern.sub(lambda _: block, text))
    return [md_path, *pngs]


if __name__ == "__main__":
    # python -m bench.report [--readme] results.json ...: redraw; --readme also
    # puts the tables into bench/README.md (as a full `make bench` does).
    readme = "--readme" in sys.argv
    for arg in sys.argv[1:]:
        if arg != "--readme":
            for path in write(Path(arg), update_readme=readme):
                print(path)
