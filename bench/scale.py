"""Scale figures for issue 3: a million-member group on FileStorage.

    python -m bench.scale [--members N] [--out bench/results]

Reports, for a group of N members (default 1,000,000) against one of 1,000:

* how long ``import_members`` takes to load it (the target: 2 minutes);
* objects loaded from storage, with a cold cache, by a membership check, a
  late page of the member listing, and the principal computation of a user in
  50 groups nested 5 deep (they must not grow with the group);
* the app's startup time on the big database and on a small one;
* the server's RSS after serving a mix of requests over the big group, next
  to the connection cache settings that bound it.

Object counts, not timings, are the scale claims here: they are exact and
repeatable. The wall-clock latencies at each size are ``make bench``'s job.
"""

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from base64 import b64encode
from datetime import date
from pathlib import Path

import transaction

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "bench-admin-password"


def make_ini(workdir: Path, name: str) -> Path:
    text = (REPO / "development.ini").read_text()
    text = text.replace("file://%(here)s/var/Data.fs", f"file://{workdir}/{name}.fs")
    text = text.replace("level = DEBUG", "level = WARN").replace("level = INFO", "level = WARN")
    ini = workdir / f"{name}.ini"
    ini.write_text(text)
    return ini


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEMBERSHIP_ADMIN_PASSWORD": PASSWORD}
    return subprocess.run(args, check=True, env=env, **kw)


def build(workdir: Path, name: str, members: int) -> tuple[Path, float]:
    """A database with ``/groups/g`` of ``members`` members and a nested user; import seconds."""
    ini = make_ini(workdir, name)
    run(str(BIN / "initialize_membership_db"), str(ini), capture_output=True)
    with open_root(ini) as (root, tm):
        with tm:
            root.groups.add_group("g")
            nest_user(root, "nested", tops=10, depth=5)
    ids = workdir / f"{name}.ids"
    ids.write_text("".join(f"m{i:07d}\n" for i in range(members)))
    started = time.perf_counter()
    run(str(BIN / "import_members"), str(ini), "/groups/g", str(ids), "--total", str(members))
    return ini, time.perf_counter() - started


def nest_user(root, userid: str, *, tops: int, depth: int) -> None:
    """``userid`` directly in ``tops`` chains of ``depth`` nested groups (tops x depth groups)."""
    root.users.add_user(userid)
    for top in range(tops):
        group = root.groups.add_group(f"n{top}")
        group.members.add_member(userid)
        for level in range(1, depth):
            group = group.groups.add_group(f"l{level}")
            group.members.add_member(userid)


class open_root:
    """The tree of an ini's FileStorage, outside any server (a context manager)."""

    def __init__(self, ini: Path) -> None:
        self.ini = ini

    def __enter__(self):
        from membership.scripts.common import app_environment

        self._env_cm = app_environment(str(self.ini))
        env = self._env_cm.__enter__()
        return env["root"], env["request"].tm

    def __exit__(self, *exc):
        return self._env_cm.__exit__(*exc)


def cold_loads(ini: Path, members: int) -> dict:
    """Objects loaded from storage, with an empty cache, by each hot operation."""
    from ZODB import DB

    from membership.domain.queries import principals_for
    from membership.web.db import ROOT_KEY

    url = f"file://{ini.parent}/{ini.stem}.fs"
    import zodburi

    factory, dbkw = zodburi.resolve_uri(url)
    db = DB(factory(), **dbkw)
    results = {}
    try:
        probes = {
            "membership check (traverse to the membership)": lambda root: (
                root.groups["g"].members[f"m{members // 2:07d}"].role
            ),
            "late page of 100 members": lambda root: [
                root.groups["g"].members.get(key).role
                for key in list(
                    root.groups["g"].members.user_ids(after=f"m{max(members - 150, 0):07d}")
                )[:100]
            ],
            "principals of a user in 50 groups, 5 deep": lambda root: principals_for(
                root, "nested"
            ),
            "member_count": lambda root: len(root.groups["g"].members),
        }
        for label, probe in probes.items():
            conn = db.open()
            try:
                conn.cacheMinimize()
                root = conn.root()[ROOT_KEY]
                root._p_activate()
                conn.getTransferCounts(clear=True)
                probe(root)
                results[label] = conn.getTransferCounts()[0]
            finally:
                transaction.abort()
                conn.close()
    finally:
        db.close()
    return results


def startup_seconds(ini: Path) -> float:
    """Time for a fresh process to build the app (open the storage, bootstrap)."""
    code = (
        "import time; t=time.perf_counter(); from pyramid.paster import get_app; "
        f"get_app({str(ini)!r}); print(time.perf_counter()-t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def serve_and_measure_rss(ini: Path, members: int, requests: int) -> dict:
    port = 6700 + random.randrange(200)
    env = {**os.environ, "PORT": str(port)}
    proc = subprocess.Popen(
        [str(BIN / "pserve"), str(ini)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Basic " + b64encode(f"admin:{PASSWORD}".encode()).decode()}
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        token_request = urllib.request.Request(
            base + "/users/admin/tokens",
            b"{}",
            {**auth, "Content-Type": "application/json"},
            method="POST",
        )
        token = json.load(urllib.request.urlopen(token_request))["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        rng = random.Random(7)
        for i in range(requests):
            member = f"m{rng.randrange(members):07d}"
            path = (
                f"/groups/g/members/{member}"
                if i % 3
                else f"/groups/g/members?limit=100&cursor={cursor_after(member)}"
            )
            urllib.request.urlopen(urllib.request.Request(base + path, headers=bearer)).read()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss_kib = int(
            next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]
        )
        return {"requests": requests, "rss_mib": round(rss_kib / 1024, 1)}
    finally:
        proc.kill()
        proc.wait(10)


def cursor_after(key: str) -> str:
    from membership.web.http import encode_cursor

    return encode_cursor(key)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="bench.scale", description=__doc__.splitlines()[0])
    cli.add_argument("--members", type=int, default=1_000_000)
    cli.add_argument("--requests", type=int, default=3000)
    cli.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = cli.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="membership-scale-") as tmp:
        workdir = Path(tmp)
        small_ini, small_import = build(workdir, "small", 1000)
        big_ini, big_import = build(workdir, "big", args.members)
        report = {
            "date": date.today().isoformat(),
            "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}",
            "members": args.members,
            "import_seconds": {
                "1000": round(small_import, 1),
                str(args.members): round(big_import, 1),
            },
            "database_mib": round((workdir / "big.fs").stat().st_size / 2**20),
            "cold_loads": {
                "1000": cold_loads(small_ini, 1000),
                str(args.members): cold_loads(big_ini, args.members),
            },
            "startup_seconds": {
                "1000": round(startup_seconds(small_ini), 2),
                str(args.members): round(startup_seconds(big_ini), 2),
            },
            "server": serve_and_measure_rss(big_ini, args.members, args.requests),
            "connection_cache": "connection_cache_size=20000 objects per connection, "
            "4 waitress threads (development.ini)",
        }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"scale-{report['date']}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    big = str(report["members"])
    lines = [
        f"# Scale, {report['date']}: a group of {int(big):,} members on FileStorage",
        "",
        f"{report['machine']}. `python -m bench.scale --members {big}`.",
        "",
        "| what | 1,000 members | " + f"{int(big):,} members |",
        "|---|--:|--:|",
        f"| `import_members` load time | {report['import_seconds']['1000']} s | "
        f"{report['import_seconds'][big]} s |",
    ]
    for label, count in report["cold_loads"]["1000"].items():
        large = report["cold_loads"][big][label]
        lines.append(f"| objects loaded, cold cache: {label} | {count} | {large} |")
    lines += [
        f"| app startup | {report['startup_seconds']['1000']} s | "
        f"{report['startup_seconds'][big]} s |",
        "",
        f"Database size with {int(big):,} members: {report['database_mib']} MiB. "
        f"Server RSS after {report['server']['requests']:,} requests (checks on random "
        f"members, pages at random cursors) over that group: "
        f"**{report['server']['rss_mib']} MiB**, bounded by {report['connection_cache']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
