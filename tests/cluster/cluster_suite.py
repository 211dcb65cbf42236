"""The multi-process suite, run against every shared storage (ZEO, RelStorage).

A test module subclasses ``ClusterSuite`` and provides a ``cluster`` fixture:
two or more app processes (gunicorn, production.ini) on one storage, and an
admin token. Clients spread their requests over the processes, so every write
may land on a different process than the read that checks it.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .servers import PRODUCTION_INI, AppServer, Client, Reply, expect, run_script

CLIENTS = 8
MEMBERS = 2_000


@dataclass
class Cluster:
    apps: list[AppServer]
    token: str
    uri: str
    directory: Path
    extra: list[AppServer] = field(default_factory=list)

    def client(self, i: int = 0, **kw) -> Client:
        return self.apps[i % len(self.apps)].client(token=self.token, **kw)

    def spawn(self, name: str, **settings: str) -> AppServer:
        """One more app process on the same storage, with some settings overridden."""
        app = AppServer(self.directory / name, self.uri, name=name, settings=settings)
        self.extra.append(app)
        return app.start()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@dataclass
class Outcome:
    """What one client saw: every status, and the acknowledged (2xx) requests."""

    statuses: Counter = field(default_factory=Counter)
    acked: list = field(default_factory=list)
    bad: list[Reply] = field(default_factory=list)


def in_parallel(n: int, work: Callable[[int], Outcome]) -> Outcome:
    """Run ``work(i)`` for i in range(n) on n threads; merge what they saw."""
    with ThreadPoolExecutor(n) as pool:
        outcomes = list(pool.map(work, range(n)))
    total = Outcome()
    for o in outcomes:
        total.statuses.update(o.statuses)
        total.acked.extend(o.acked)
        total.bad.extend(o.bad)
    return total


def assert_problem_json_retry_after(reply: Reply) -> None:
    """The shape of an exhausted-retries answer: 409/503 problem+json with Retry-After."""
    assert reply.status in (409, 503), reply
    assert (reply.header("content-type") or "").startswith("application/problem+json"), reply
    assert reply.header("retry-after"), reply
    assert reply.json["status"] == reply.status, reply
    assert "Traceback" not in reply.body.decode(errors="replace"), reply


def import_users(cluster: Cluster, ids: list[str]) -> None:
    """Create users in bulk with ``import_members`` (into a staging group), beside the servers."""
    admin = cluster.client(0)
    staging = unique("staging")
    expect(admin.post("/groups", {"name": staging}), 201)
    admin.close()
    listing = cluster.directory / f"{staging}.txt"
    listing.write_text("\n".join(ids) + "\n")
    run_script(
        "membership.scripts.import_members",
        str(PRODUCTION_INI),
        f"/groups/{staging}",
        str(listing),
        uri=cluster.uri,
        cwd=cluster.directory,
    )


class ClusterSuite:
    """Tests every shared storage must pass. Subclasses provide ``cluster``."""

    def test_health_probes_are_open_and_terse(self, cluster: Cluster):
        for app in cluster.apps:
            anonymous = app.client()
            for path in ("/healthz", "/readyz"):
                reply = anonymous.get(path)
                assert reply.status == 200, reply
                assert reply.json == {"status": "ok"}
                assert reply.header("cache-control") == "no-store"
                # Wrong credentials change nothing: probes are not authenticated.
                reply = anonymous.get(path, headers={"Authorization": "Bearer nonsense"})
                assert reply.status == 200, reply
            anonymous.close()

    def test_change_through_one_worker_is_visible_on_the_next_request_to_another(
        self, cluster: Cluster
    ):
        a, b = cluster.client(0), cluster.client(1)
        user = unique("inv")
        expect(a.post("/users", {"id": user}), 201)
        for round_ in range(10):
            group = unique(f"inv{round_}")
            writer, reader = (a, b) if round_ % 2 == 0 else (b, a)

            expect(writer.post("/groups", {"name": group}), 201)
            expect(reader.get(f"/groups/{group}"), 200)

            reply = reader.post(f"/groups/{group}/members", {"user": user, "role": "member"})
            assert reply.status == 201, reply
            assert writer.get(f"/groups/{group}").json["member_count"] == 1

            reply = writer.patch(f"/groups/{group}/members/{user}", {"role": "manager"})
            assert reply.status == 200, reply
            assert reader.get(f"/groups/{group}/members/{user}").json["role"] == "manager"
            paths = {g["path"]: g for g in reader.collect(f"/users/{user}/groups")}
            assert paths[f"/groups/{group}"]["role"] == "manager"

            expect(reader.delete(f"/groups/{group}"), 204)
            expect(writer.get(f"/groups/{group}"), 404)
            paths = {g["path"] for g in writer.collect(f"/users/{user}/groups")}
            assert f"/groups/{group}" not in paths
        a.close()
        b.close()

    @pytest.mark.slow
    def test_concurrent_member_adds_across_workers_are_all_kept(self, cluster: Cluster):
        group = unique("crowd")
        # Ids in no particular order, as people arrive; each client's share
        # still lands all over the same BTrees as everyone else's.
        users = [f"{group}-u{i:04d}" for i in range(MEMBERS)]
        random.Random(MEMBERS).shuffle(users)
        admin = cluster.client(0)
        expect(admin.post("/groups", {"name": group}), 201)
        import_users(cluster, users)

        def add(i: int) -> Outcome:
            out = Outcome()
            # Every client alternates between the workers, request by request.
            clients = [cluster.client(i), cluster.client(i + 1)]
            for n, uid in enumerate(users[i::CLIENTS]):
                reply = clients[n % 2].post(
                    f"/groups/{group}/members", {"user": uid, "role": "member"}
                )
                out.statuses[reply.status] += 1
                if 200 <= reply.status < 300:
                    out.acked.append(uid)
                else:
                    out.bad.append(reply)
            for c in clients:
                c.close()
            return out

        started = time.monotonic()
        seen = in_parallel(CLIENTS, add)
        took = time.monotonic() - started
        print(f"{MEMBERS} concurrent adds in {took:.1f}s: {dict(seen.statuses)}")

        assert not [s for s in seen.statuses if s >= 500], (seen.statuses, seen.bad[:3])
        assert not seen.bad, (seen.statuses, seen.bad[:3])
        for i in range(len(cluster.apps)):
            reader = cluster.client(i)
            listed = [m["user"] for m in reader.collect(f"/groups/{group}/members")]
            assert len(listed) == len(set(listed))
            assert set(listed) == set(seen.acked)
            assert reader.get(f"/groups/{group}").json["member_count"] == len(seen.acked)
            reader.close()
        # The reverse index (user -> groups) got every entry too.
        missing = []
        lock = threading.Lock()

        def check(i: int) -> Outcome:
            client = cluster.client(i)
            for uid in users[i::CLIENTS]:
                paths = {g["path"] for g in client.collect(f"/users/{uid}/groups")}
                if f"/groups/{group}" not in paths:
                    with lock:
                        missing.append(uid)
            client.close()
            return Outcome()

        started = time.monotonic()
        in_parallel(CLIENTS, check)
        print(f"{MEMBERS} index checks in {time.monotonic() - started:.1f}s")
        assert missing == []

    @pytest.mark.slow
    def test_concurrent_role_changes_last_writer_wins_and_index_stays_whole(self, cluster: Cluster):
        group = unique("roles")
        users = [f"{group}-u{i}" for i in range(2)]
        admin = cluster.client(0)
        expect(admin.post("/groups", {"name": group}), 201)
        for uid in users:
            expect(admin.post("/users", {"id": uid}), 201)
            reply = admin.post(f"/groups/{group}/members", {"user": uid, "role": "member"})
            assert reply.status == 201, reply
        roles = ("member", "manager", "owner")

        def change(i: int) -> Outcome:
            out = Outcome()
            clients = [cluster.client(i), cluster.client(i + 1)]
            for n in range(30):
                uid = users[n % len(users)]
                role = roles[(i + n) % len(roles)]
                began = time.monotonic()
                reply = clients[n % 2].patch(f"/groups/{group}/members/{uid}", {"role": role})
                ended = time.monotonic()
                out.statuses[reply.status] += 1
                if 200 <= reply.status < 300:
                    out.acked.append((uid, role, began, ended))
                else:
                    out.bad.append(reply)
            for c in clients:
                c.close()
            return out

        seen = in_parallel(CLIENTS, change)
        print(f"concurrent role changes: {dict(seen.statuses)}")
        assert 500 not in seen.statuses, seen.bad[:3]
        for reply in seen.bad:
            assert_problem_json_retry_after(reply)
        assert seen.acked, seen.statuses

        for uid in users:
            acked = [(role, began, ended) for u, role, began, ended in seen.acked if u == uid]
            # Last writer wins: the final role is that of an acknowledged change
            # that no other acknowledged change provably came after (began
            # after it had been answered).
            possible = {
                role
                for role, _, ended in acked
                if not any(other_began > ended for _, other_began, _ in acked)
            }
            for i in range(len(cluster.apps)):
                reader = cluster.client(i)
                final = reader.get(f"/groups/{group}/members/{uid}").json["role"]
                assert final in possible, (uid, final, possible)
                mine = [
                    g for g in reader.collect(f"/users/{uid}/groups") if g["path"].endswith(group)
                ]
                assert len(mine) == 1, mine
                assert mine[0]["role"] == final and mine[0]["direct"] is True
                by_role = {
                    r: [m["user"] for m in reader.collect(f"/groups/{group}/members?role={r}")]
                    for r in roles
                }
                assert [r for r in roles if uid in by_role[r]] == [final], by_role
                assert reader.get(f"/groups/{group}").json["member_count"] == len(users)
                reader.close()

    @pytest.mark.slow
    def test_conflict_after_the_last_attempt_is_503_problem_json(self, cluster: Cluster):
        """With one attempt, contended writes conflict; they are 503s, never 500s."""
        apps = [cluster.spawn(unique("once"), **{"retry.attempts": "1"}) for _ in range(2)]
        group = unique("hot")
        uid = f"{group}-u"
        admin = apps[0].client(token=cluster.token)
        expect(admin.post("/groups", {"name": group}), 201)
        expect(admin.post("/users", {"id": uid}), 201)
        expect(admin.post(f"/groups/{group}/members", {"user": uid}), 201)

        def hammer(i: int) -> Outcome:
            out = Outcome()
            clients = [app.client(token=cluster.token) for app in apps]
            for n in range(25):
                role = ("member", "manager")[(i + n) % 2]
                reply = clients[n % 2].patch(f"/groups/{group}/members/{uid}", {"role": role})
                out.statuses[reply.status] += 1
                if not 200 <= reply.status < 300:
                    out.bad.append(reply)
            for c in clients:
                c.close()
            return out

        total = Outcome()
        for _ in range(4):  # bounded: conflicts are likely, not certain, per round
            seen = in_parallel(CLIENTS, hammer)
            total.statuses.update(seen.statuses)
            total.bad.extend(seen.bad)
            if total.statuses[503] or total.statuses[409]:
                break
        print(f"one attempt, contended: {dict(total.statuses)}")
        assert 500 not in total.statuses, total.bad[:3]
        assert total.bad, "no conflict in 800 contended writes: the test proves nothing"
        for reply in total.bad:
            assert_problem_json_retry_after(reply)
