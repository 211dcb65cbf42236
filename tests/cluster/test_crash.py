"""Crash safety: a write answered 2xx survives ``kill -9`` of the app and of the ZEO server.

Writers count what was acknowledged; the processes are killed under them
(app first, then ZEO), restarted, and every acknowledged write must be there.
Afterwards the FileStorage must pass ZODB's own checks.
"""

import http.client
import threading
import time
from collections import Counter

import pytest

from .cluster_suite import unique
from .servers import (
    AppServer,
    ZEOServer,
    admin_token,
    expect,
    initialize_db,
    verify_filestorage,
    wait_for,
)

pytestmark = pytest.mark.slow

WRITERS = 4
MAX_WRITES = 2_000  # per writer: a bound, never reached in practice


class Writer(threading.Thread):
    """Creates users and adds them to a group, alternating between two app processes."""

    def __init__(self, number: int, apps: list[AppServer], token: str, group: str):
        super().__init__(name=f"writer-{number}", daemon=True)
        self.number = number
        self.clients = [app.client(token=token, timeout=30) for app in apps]
        self.group = group
        self.stop = threading.Event()
        self.users: list[str] = []  # acknowledged POST /users
        self.members: list[str] = []  # acknowledged POST /groups/<g>/members
        self.failures: Counter = Counter()

    def run(self) -> None:
        for i in range(MAX_WRITES):
            if self.stop.is_set():
                break
            client = self.clients[i % 2]
            uid = f"{self.group}-w{self.number}-{i}"
            try:
                reply = client.post("/users", {"id": uid})
                if reply.status != 201:
                    self.failures[reply.status] += 1
                    continue
                self.users.append(uid)
                reply = client.post(f"/groups/{self.group}/members", {"user": uid})
                if reply.status == 201:
                    self.members.append(uid)
                else:
                    self.failures[reply.status] += 1
            except (OSError, http.client.HTTPException) as exc:
                self.failures[type(exc).__name__] += 1
                time.sleep(0.05)
        for client in self.clients:
            client.close()

    @property
    def acknowledged(self) -> int:
        return len(self.users) + len(self.members)


def test_acknowledged_writes_survive_kill_9_of_the_app_and_of_zeo(tmp_path):
    zeo = ZEOServer(tmp_path / "zeo").start()
    # Three attempts, not ten: during the ZEO outage each one waits wait_timeout.
    settings = {"retry.attempts": "3"}
    apps = [
        AppServer(tmp_path / f"app{i}", zeo.uri, name=f"app{i}", settings=settings)
        for i in range(2)
    ]
    writers: list[Writer] = []
    try:
        initialize_db(zeo.uri, tmp_path)
        for app in apps:
            app.start()
        token = admin_token(apps[0])
        group = unique("crash")
        admin = apps[1].client(token=token)
        expect(admin.post("/groups", {"name": group}), 201)

        writers = [Writer(n, apps, token, group) for n in range(WRITERS)]
        for writer in writers:
            writer.start()

        def acknowledged() -> int:
            return sum(w.acknowledged for w in writers)

        wait_for(lambda: acknowledged() >= 150, 60, "150 acknowledged writes")
        apps[0].kill9()  # the whole gunicorn process group, mid-traffic
        after_app = acknowledged()
        wait_for(lambda: acknowledged() >= after_app + 150, 60, "writes through the survivor")
        zeo.kill9()
        time.sleep(0.5)
        for writer in writers:
            writer.stop.set()
        for writer in writers:
            writer.join(timeout=60)
            assert not writer.is_alive()

        failures = sum((w.failures for w in writers), Counter())
        users = [uid for w in writers for uid in w.users]
        members = [uid for w in writers for uid in w.members]
        print(f"acknowledged {len(users)} users, {len(members)} members; failures {failures}")
        assert failures, "the kills did not hit any request: the test proves nothing"

        zeo.start()  # same port, same Data.fs
        apps[0].start()
        # The survivor reconnects to the restarted ZEO by itself.
        probe = apps[1].client()
        wait_for(lambda: probe.get("/readyz").status == 200, 30, "the survivor to reconnect")
        probe.close()

        readers = [app.client(token=token) for app in apps]
        missing = [
            uid for n, uid in enumerate(users) if readers[n % 2].get(f"/users/{uid}").status != 200
        ]
        assert missing == [], f"{len(missing)} acknowledged users lost"
        for reader in readers:
            listed = {m["user"] for m in reader.collect(f"/groups/{group}/members")}
            assert set(members) <= listed, f"{len(set(members) - listed)} members lost"
            assert expect(reader.get(f"/groups/{group}")).json["member_count"] == len(listed)
            reader.close()
        admin.close()
    finally:
        for writer in writers:
            writer.stop.set()
        for app in apps:
            app.stop()
        zeo.stop()
    # After a clean stop the storage verifies clean: structure, references, BTrees.
    verify_filestorage(zeo.data_fs)
