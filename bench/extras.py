"""The cases beside the core ones: the change feed and webhooks (issue 13), SCIM
(issue 14), batch checks (issue 18) and the objects/bytes per write (issue 18).

Where the server answers 404 for SCIM or ``POST /checks`` (a build without
them, e.g. the previous release), their cases carry no request and a note
saying so, and the run lists them as skipped.
"""

import json
import time
from pathlib import Path
from urllib.parse import quote

from bench import ours
from bench.client import Client
from bench.load import Request

SCIM = "/scim/v2"
SCIM_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CHECKS = "/checks"
QUESTIONS = 100  # per POST /checks request


# -- webhooks and the feed -------------------------------------------------


def subscribe(client: Client, url: str) -> dict:
    """A webhook subscription to ``url`` (every type, the whole tree), from now on."""
    return client.post("/webhooks", {"url": url, "description": "bench"})


def unsubscribe(client: Client, hook: dict) -> None:
    client.request("DELETE", f"/webhooks/{hook['id']}", expect=(204,))


def make_changes(client: Client, users: list[str], events: int) -> tuple[str, int]:
    """At least ``events`` changes: ``users`` added to the group and removed again,
    1,000 operations per request. Answers the feed cursor from before them and
    how many changes the feed holds after it (counted, not assumed)."""
    start = client.get("/changes?after=now")["cursor"]
    made = 0
    members = f"{ours.GROUP}/members"
    while made < events:
        for op in ("add", "remove"):
            for first in range(0, len(users), 1000):
                chunk = users[first : first + 1000]
                ops = [
                    {"op": op, "user": user} | ({"role": "member"} if op == "add" else {})
                    for user in chunk
                ]
                client.request("PATCH", members, ops, expect=(200,))
                made += len(chunk)
    return start, made


def read_feed(client: Client, start: str, expected: int, least: float = 1.0):
    """Page through ``GET /changes`` from ``start`` (1,000 per page) until ``expected``
    items or the end, again until ``least`` seconds have passed (a rate from more
    than a handful of requests); answers ``(items read, seconds)``."""
    read = 0
    began = time.perf_counter()
    while True:
        cursor, this_pass = start, 0
        while this_pass < expected:
            body = client.get(f"/changes?after={quote(cursor)}&limit=1000")
            if not body["items"]:
                break
            this_pass += len(body["items"])
            cursor = body["cursor"]
        read += this_pass
        elapsed = time.perf_counter() - began
        if elapsed >= least or not this_pass:
            return read, elapsed


def deliver(client: Client, receiver, start: str, expected: int, mode) -> tuple[int, float]:
    """A subscription replaying the changes after ``start`` to ``receiver``; answers
    ``(deliveries counted, seconds from the replay's start to the last one)``, bounded
    by ``mode.webhook_seconds``."""
    receiver.reset()
    hook = subscribe(client, receiver.url)
    try:
        began = time.monotonic()
        client.request("PATCH", f"/webhooks/{hook['id']}", {"cursor": start}, expect=(200,))
        deadline = began + mode.webhook_seconds
        while receiver.count < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        with receiver.lock:
            count, last = receiver.count, receiver.last
    finally:
        unsubscribe(client, hook)
    return count, ((last or began) - began)


# -- SCIM and batch checks: run where the endpoints exist ---------------------


class Optional:
    """Cases for endpoints other branches add; each ``Case`` without a request says why."""

    def __init__(self, client: Client, auth: str, size: int, check_path: str):
        self.client = client
        self.auth = auth
        self.size = size
        self.user = check_path.rsplit("/", 1)[1]  # the member the check asks about
        self._scim = None  # None: not probed yet; False: absent; else the group's SCIM id

    def _case(self, op: str, request: Request | None, note: str | None = None):
        from bench.run import Case  # the run's record type (run imports this module)

        case = Case("ours", op, self.size, request)
        if note:
            case.notes.append(note)
        return case

    def scim_group(self):
        """The SCIM id of ``/groups/g`` (its stable id), or False when SCIM is absent."""
        if self._scim is None:
            status, _, _ = self.client.request(
                "GET", f"{SCIM}/ServiceProviderConfig", expect=(200, 401, 403, 404)
            )
            if status == 404:
                self._scim = False
            else:
                group = self.client.get(ours.GROUP)
                self._scim = group.get("id") or False
        return self._scim

    def read_cases(self, wanted) -> list:
        """The SCIM filter and the batch check, those ``wanted(op)`` asks for."""
        cases = []
        if not wanted("scim-filter"):
            pass
        elif self.scim_group():
            filter_ = quote(f'userName eq "{self.user}"')
            path = f"{SCIM}/Users?filter={filter_}"
            _, body, _ = self.client.request("GET", path, expect=(200,))
            case = self._case("scim-filter", Request("GET", path, self.auth))
            if body.get("totalResults") != 1:
                case.notes.append(f"the filter found {body.get('totalResults')} users, not 1")
            cases.append(case)
        else:
            cases.append(
                self._case("scim-filter", None, "/scim/v2 answers 404 (no SCIM in this build)")
            )
        if wanted("checks-batch"):
            cases.append(self.checks_case())
        return cases

    def scim_patch(self, workdir: Path):
        """A SCIM member PATCH per request: one pool user added to ``/groups/g``
        (``use_pool`` names the users before each run)."""
        group = self.scim_group()
        if not group:
            return self._case("scim-patch", None, "/scim/v2 answers 404 (no SCIM in this build)")
        body = {
            "schemas": [SCIM_PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": "{id}"}]}],
        }
        return self._case(
            "scim-patch",
            Request(
                "PATCH",
                f"{SCIM}/Groups/{group}",
                self.auth,
                body=json.dumps(body),
                ctype="application/scim+json",
                idfile=str(workdir / f"scim-{self.size}.txt"),
            ),
        )

    def use_pool(self, case, pool: list[str]) -> None:
        """The users the next run of ``case`` adds, one per request."""
        Path(case.request.idfile).write_text("\n".join(pool) + "\n")

    def scim_cleanup(self, pool: list[str]) -> None:
        """Take out (unmeasured) the pool users the SCIM PATCH run added."""
        ours.remove_all(self.client, ours.still_members(self.client, pool))

    def checks_case(self):
        """``POST /checks {"items": [...]}`` with 100 questions: direct and effective
        membership of ``/groups/g`` and of a nested group, and a permission question."""
        nested = "/groups/n0"  # the nested user is in its subgroup 4 levels below
        questions = []
        for i in range(QUESTIONS):
            member = ours.member(i * self.size // QUESTIONS)
            kind = i % 4
            if kind == 0:
                questions.append({"user": member, "group": ours.GROUP})
            elif kind == 1:
                questions.append({"user": ours.NESTED_USER, "group": ours.GROUP})  # no
            elif kind == 2:
                questions.append({"user": ours.NESTED_USER, "group": nested, "effective": True})
            else:
                questions.append(
                    {"user": member, "permission": "manage-members", "path": ours.GROUP}
                )
        body = {"items": questions}
        status, answer, _ = self.client.request(
            "POST", CHECKS, body, expect=(200, 400, 404, 405, 422)
        )
        if status in (404, 405):
            note = f"POST {CHECKS} answers {status} (no batch checks in this build)"
            return self._case("checks-batch", None, note)
        if status != 200:
            note = f"POST {CHECKS} refused the bench's questions ({status}): {answer}"
            return self._case("checks-batch", None, note)
        case = self._case(
            "checks-batch",
            Request("POST", CHECKS, self.auth, body=json.dumps(body), ctype="application/json"),
        )
        items = (answer or {}).get("items", [])
        errors = [item for item in items if "error" in item]
        if len(items) != QUESTIONS or errors:
            case.notes.append(
                f"{len(items)} answers to {QUESTIONS} questions, {len(errors)} of them errors: "
                f"{errors[:1]}"
            )
        return case


# -- objects and bytes per write (bench/writecost.py, helper `storage`) -------


def write_cost(log) -> dict:
    """Objects and bytes each write commits to a FileStorage, from ``bench.writecost``.

    Answers ``{"rows": [{"operation", "objects", "bytes"}...], "page_cold_objects"?,
    "adds_per_second"?}``, or ``{"missing": why}`` when this branch has no
    ``bench/writecost.py`` yet. ``measure()`` may answer the rows as a list, or a
    dict with ``writes`` (operation -> objects, bytes), ``page`` and
    ``adds_per_second``.
    """
    try:
        from bench import writecost
    except ImportError as exc:
        return {"missing": f"bench/writecost.py is not on this branch ({exc})"}
    log("writes: objects and bytes per operation (bench.writecost, in process)")
    try:
        result = writecost.measure()
    except Exception as exc:  # a failure there must not stop the load tests
        log(f"writecost failed: {exc!r}")
        return {"missing": f"bench.writecost.measure() failed: {exc!r}"}
    out: dict = {}
    if isinstance(result, dict):
        writes = result.get("writes", {})
        rows = [
            {"operation": name, "objects": row["objects"], "bytes": row["bytes"]}
            for name, row in writes.items()
        ]
        page = result.get("page") or {}
        if page.get("cold_objects") is not None:
            out["page_cold_objects"] = page["cold_objects"]
        for key in ("adds_per_second", "cpu_ms_per_add"):
            if result.get(key) is not None:
                out[key] = result[key]
        if result.get("members") is not None:
            out["members"] = result["members"]
    else:
        rows = [dict(row) for row in result]
    out["rows"] = rows
    for row in rows:
        log(f"  {row['operation']:14} {row['objects']:4} objects {row['bytes']:7,} bytes")
    if "page_cold_objects" in out:
        log(f"  a page of 100 members, cold: {out['page_cold_objects']} objects loaded")
    return out
