"""Webhooks from real servers: nothing lost across ``kill -9``, leases taken over.

* FileStorage under ``pserve development.ini`` (the in-process dispatcher):
  a burst of 1,000 changes, the server killed with SIGKILL in the middle of
  delivering it, started again; the receiver gets every change at least
  once, in the feed's order, none missing.
* ZEO and RelStorage with two ``membership_dispatch`` processes: one
  delivers, the other waits on its lease; ``kill -9`` the first, and the
  second carries on within the lease time, from the last acknowledged change.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from ..unit.test_webhooks import Receiver, first_occurrences
from .servers import (
    ADMIN_ID,
    AppServer,
    Client,
    Process,
    ZEOServer,
    admin_token,
    expect,
    free_port,
    initialize_db,
    pg_scratch_database,
    python_env,
    run,
    wait_for,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "delivery-admin-password"
FAST_ARGON2 = {
    "membership.argon2.time_cost": "1",
    "membership.argon2.memory_cost": "8",
    "membership.argon2.parallelism": "1",
}


def feed_after(client: Client, cursor: str) -> list[str]:
    """Every change id after ``cursor``, from ``/changes``."""
    ids: list[str] = []
    while True:
        page = expect(client.get(f"/changes?after={cursor}&limit=1000")).json
        if not page["items"]:
            return ids
        ids.extend(item["id"] for item in page["items"])
        cursor = page["cursor"]


def drops(ids: list[str]) -> int:
    """How often the sequence goes back (a redelivery from the last acknowledged cursor)."""
    return sum(1 for a, b in itertools.pairwise(ids) if b <= a)


def cursor_of(client: Client, hook: dict) -> str:
    """The subscription's cursor as stored (it follows the receiver's 2xx by one commit)."""
    state = expect(client.get(f"/webhooks/{hook['id']}")).json
    assert state["attempts"] == 0 and state["active"], state
    return state["cursor"]


def persistently(client_factory, method: str, path: str, body=None, deadline: float = 120):
    """Send until the server answers (it may be down for a while); 409 means done before."""
    end = time.monotonic() + deadline
    while True:
        client = client_factory()
        try:
            reply = client.request(method, path, body)
            if reply.status < 500:
                assert reply.status in (200, 201, 204, 409), reply
                return reply
        except (OSError, http.client.HTTPException):
            pass  # down, or killed while answering: send again
        finally:
            client.close()
        if time.monotonic() > end:
            raise TimeoutError(f"{method} {path}: no answer for {deadline}s")
        time.sleep(0.1)


# --------------------------------------------------------------------------
# FileStorage, in-process dispatcher, kill -9


class Pserve:
    def __init__(self, directory: Path, ini: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(
            "pserve",
            [BIN / "pserve", ini],
            directory / "pserve.log",
            env=python_env(PORT=str(self.port)),
            cwd=directory,
        )

    def start(self) -> Pserve:
        self.process.start()

        def ready():
            if not self.process.alive():
                pytest.fail(f"pserve exited:\n{self.process.log_tail()}")
            try:
                client = Client(self.url, timeout=2)
                try:
                    return client.get("/readyz").status == 200
                finally:
                    client.close()
            except OSError:
                return False

        wait_for(ready, 30, "pserve to answer", interval=0.1)
        return self


@pytest.fixture
def dev_server(tmp_path):
    """``pserve development.ini`` on a FileStorage of its own: ``(server, admin token)``."""
    text = (REPO / "development.ini").read_text()
    text = text.replace("file://%(here)s/var/Data.fs", f"file://{tmp_path}/Data.fs")
    settings = {**FAST_ARGON2, "membership.webhooks.allow_private": "true"}
    head = "[app:main]\nuse = egg:membership\n"
    assert head in text
    text = text.replace(head, head + "".join(f"{k} = {v}\n" for k, v in settings.items()), 1)
    ini = tmp_path / "delivery.ini"
    ini.write_text(text)
    run(
        [BIN / "initialize_membership_db", ini],
        env=python_env(MEMBERSHIP_ADMIN_PASSWORD=PASSWORD),
        cwd=tmp_path,
    )
    server = Pserve(tmp_path, ini).start()
    try:
        basic = Client(server.url, basic=(ADMIN_ID, PASSWORD))
        token = expect(basic.post(f"/users/{ADMIN_ID}/tokens", {"name": "burst"}), 201).json
        basic.close()
        yield server, token["token"]
    finally:
        server.process.stop()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_no_change_is_lost_when_the_server_is_killed_mid_burst(dev_server, receiver):
    server, token = dev_server
    receiver.delay = 0.003
    client = Client(server.url, token=token)
    hook = expect(client.post("/webhooks", {"url": receiver.url}), 201).json
    client.close()

    def new_client() -> Client:
        return Client(server.url, token=token, timeout=10)

    # 1,000 changes: 10 users, 90 groups, 90 transactions adding 10 members each
    users = [f"u{n}" for n in range(10)]
    ops = [[("POST", "/users", {"id": u}) for u in users]]
    ops.append([("POST", "/groups", {"name": f"g{n}"}) for n in range(90)])
    add_all = [{"op": "add", "user": u} for u in users]
    ops.append([("PATCH", f"/groups/g{n}/members", add_all) for n in range(90)])
    failures: list[BaseException] = []

    def burst() -> None:
        try:
            for phase in ops:
                for method, path, body in phase:
                    persistently(new_client, method, path, body)
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=burst)
    writer.start()
    wait_for(lambda: len(set(receiver.ids())) >= 300, 60, "300 deliveries")
    server.process.kill9()  # SIGKILL, in the middle of delivering the burst
    killed_at = len(receiver.calls)
    assert killed_at < 900, "the burst was over before the kill; slow the receiver down"
    server.start()
    writer.join(120)
    assert not writer.is_alive() and not failures, failures
    client = new_client()
    expected = feed_after(client, hook["cursor"])
    assert len(expected) >= 1000  # the burst, the subscription's own webhook.created
    wait_for(lambda: set(expected) <= set(receiver.ids()), 120, "every change to be delivered")
    ids = receiver.ids()
    assert first_occurrences(ids) == expected  # every change, in order, none missing
    assert drops(ids) <= 1  # sent again only from where the kill interrupted
    verifier = Webhook(hook["secret"])
    for headers, body in receiver.calls:
        verifier.verify(body, headers)
    wait_for(lambda: cursor_of(client, hook) == expected[-1], 10, "the cursor to follow")
    client.close()


def test_membership_expired_comes_within_seconds_without_a_cron(dev_server, receiver):
    server, token = dev_server
    client = Client(server.url, token=token)
    hook = {"url": receiver.url, "types": ["membership.expired"]}
    secret = expect(client.post("/webhooks", hook), 201).json["secret"]
    expect(client.post("/users", {"id": "temp"}), 201)
    expect(client.post("/groups", {"name": "contractors"}), 201)
    instant = datetime.now(UTC) + timedelta(seconds=2)
    member = {"user": "temp", "expires_at": instant.isoformat()}
    expect(client.post("/groups/contractors/members", member), 201)
    wait_for(lambda: receiver.calls, 15, "membership.expired")
    arrived = datetime.now(UTC)
    assert arrived - instant < timedelta(seconds=10)
    [(headers, body)] = receiver.calls
    message = Webhook(secret).verify(body, headers)
    assert message["type"] == "membership.expired"
    assert message["data"]["target"] == "/groups/contractors/members/temp"
    assert message["data"]["groups"] == ["/groups/contractors"]
    time.sleep(1.5)
    assert len(receiver.calls) == 1  # once
    client.close()


# --------------------------------------------------------------------------
# ZEO / RelStorage, two membership_dispatch processes, kill -9 one


@pytest.fixture(params=["zeo", "relstorage"])
def shared_storage(request, tmp_path):
    if request.param == "zeo":
        with ZEOServer(tmp_path / "zeo") as zeo:
            yield zeo.uri
    else:
        with pg_scratch_database() as pg:
            yield pg.relstorage_uri(keep_history="false")


def dispatch_process(name: str, app: AppServer, uri: str, directory: Path) -> Process:
    return Process(
        name,
        [
            sys.executable,
            "-c",
            "import sys; from membership.scripts.dispatch import main; sys.exit(main())",
            app.ini,
            "--name",
            name,
        ],
        directory / f"{name}.log",
        env=python_env(MEMBERSHIP_ZODB_URI=uri),
        cwd=directory,
    )


LEASE_SECONDS = 3


def test_another_dispatcher_takes_over_when_one_is_killed(shared_storage, tmp_path):
    uri = shared_storage
    initialize_db(uri, tmp_path)
    settings = {
        "membership.webhooks.allow_private": "true",
        "membership.dispatch.lease_seconds": str(LEASE_SECONDS),
        "membership.dispatch.poll_seconds": "0.2",
    }
    receiver = Receiver()
    receiver.delay = 0.01
    with contextlib.ExitStack() as stack:
        stack.callback(receiver.close)
        app = stack.enter_context(AppServer(tmp_path / "app", uri, settings=settings))
        client = app.client(token=admin_token(app))
        stack.callback(client.close)
        hook = expect(client.post("/webhooks", {"url": receiver.url}), 201).json
        for n in range(300):
            expect(client.post("/groups", {"name": f"g{n}"}), 201)
        expected = feed_after(client, hook["cursor"])
        assert len(expected) == 301

        first = dispatch_process("first", app, uri, tmp_path).start()
        stack.callback(first.stop)
        wait_for(lambda: len(receiver.calls) >= 30, 60, "the first dispatcher to deliver")
        second = dispatch_process("second", app, uri, tmp_path).start()
        stack.callback(second.stop)
        time.sleep(2)  # the second one is up, and waits on the first one's lease
        assert drops(receiver.ids()) == 0  # one at a time: no interleaving
        first.kill9()
        killed = len(receiver.calls)
        killed_at = time.monotonic()
        assert killed < len(expected), "the first one finished before the kill"
        wait_for(lambda: len(receiver.calls) > killed + 3, 60, "the second to take over")
        took = time.monotonic() - killed_at
        assert took < LEASE_SECONDS + 5, f"took over after {took:.1f}s"
        wait_for(lambda: set(expected) <= set(receiver.ids()), 60, "every change")
        ids = receiver.ids()
        assert first_occurrences(ids) == expected
        assert drops(ids) <= 1
        assert second.alive(), second.log_tail()
        wait_for(lambda: cursor_of(client, hook) == expected[-1], 10, "the cursor to follow")


# --------------------------------------------------------------------------
# membership_dispatch's own /metrics


def scrape_dispatcher(port: int) -> dict:
    """``GET /metrics`` of a dispatch process, parsed: ``(name, labels) -> value``."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        res = conn.getresponse()
        text = res.read().decode()
        assert res.status == 200, text
    finally:
        conn.close()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_dispatch_process_serves_its_metrics(tmp_path):
    """membership_dispatch with membership.dispatch.metrics_listen (here through its
    environment variable, as a systemd unit would set it): its deliveries by outcome
    and the feed's lag, at GET /metrics, parsed with the Prometheus parser."""
    with ZEOServer(tmp_path / "zeo") as zeo:
        initialize_db(zeo.uri, tmp_path)
        settings = {
            "membership.webhooks.allow_private": "true",
            "membership.webhooks.retry_min": "0.2",
            "membership.webhooks.retry_max": "0.5",
            "membership.dispatch.poll_seconds": "0.1",
        }
        receiver = Receiver()
        with contextlib.ExitStack() as stack:
            stack.callback(receiver.close)
            app = stack.enter_context(AppServer(tmp_path / "app", zeo.uri, settings=settings))
            client = app.client(token=admin_token(app))
            stack.callback(client.close)
            expect(client.post("/webhooks", {"url": receiver.url}), 201)
            for n in range(5):
                expect(client.post("/groups", {"name": f"g{n}"}), 201)
            port = free_port()
            process = Process(
                "metrics",
                [
                    sys.executable,
                    "-c",
                    "import sys; from membership.scripts.dispatch import main; sys.exit(main())",
                    app.ini,
                ],
                tmp_path / "metrics.log",
                env=python_env(
                    MEMBERSHIP_ZODB_URI=zeo.uri,
                    MEMBERSHIP_DISPATCH_METRICS_LISTEN=f"127.0.0.1:{port}",
                ),
                cwd=tmp_path,
            ).start()
            stack.callback(process.stop)
            delivered = ("membership_webhook_deliveries_total", (("outcome", "delivered"),))
            wait_for(lambda: len(receiver.calls) >= 6, 60, "the deliveries")
            wait_for(
                lambda: scrape_dispatcher(port).get(delivered) == len(receiver.calls),
                30,
                "the counter to follow",
            )
            receiver.default = (500, {})
            expect(client.post("/groups", {"name": "late"}), 201)
            failed = ("membership_webhook_deliveries_total", (("outcome", "failed"),))
            wait_for(lambda: scrape_dispatcher(port).get(failed, 0) >= 1, 60, "a failure")
            samples = scrape_dispatcher(port)
            # a change is waiting for its retry: the lag counts from its commit
            wait_for(
                lambda: scrape_dispatcher(port)[("membership_changes_lag_seconds", ())] > 0,
                30,
                "a lag above 0",
            )
            assert any(name == "membership_build_info" for name, _ in samples)
            assert process.alive(), process.log_tail()
            assert f"metrics on http://127.0.0.1:{port}/metrics" in process.log_tail()
