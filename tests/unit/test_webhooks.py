"""Webhooks from the change feed: signatures, order, at least once, retries, disabling,
leases, secret rotation, the URL rules, ``membership.expired`` and the feed's upkeep.

The dispatcher runs synchronously here (``run_once``) on an in-memory ZODB,
with the service's clock frozen and moved by hand; deliveries go to a real
HTTP receiver on 127.0.0.1 and are verified with the ``standardwebhooks``
package, as a receiver would.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import transaction
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from membership import clock
from membership.dispatch import Config, Dispatcher, sending
from membership.domain import Actor, Context
from membership.domain.changes import Gone, read
from membership.domain.errors import NotPermitted, Unprocessable
from membership.domain.groups import create_group, move_group, update_group
from membership.domain.members import add_member, change_member, remove_member
from membership.domain.setup import ROOT_KEY
from membership.domain.users import create_user
from membership.domain.webhooks import (
    create_subscription,
    decode_position,
    rotate_secret,
    update_subscription,
)
from membership.model.evolve import evolve

from .conftest import CREDENTIALS, make_db

# --------------------------------------------------------------------------
# a receiver, as a customer would run one


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers as told.

    ``answers`` is consumed first, one ``(status, headers)`` per request, then
    ``default`` answers; ``delay`` slows every answer down.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.default = (200, {})
        self.delay = 0.0
        #: Close each connection after answering, without saying so (as a server
        #: whose keep-alive timeout ran out between two requests would).
        self.drop_connections = False
        #: The client port of each request: one per connection the sender opened.
        self.peers: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (kill -9)
                    self.close_connection = True
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    receiver.peers.append(self.client_address[1])
                    status, headers = (
                        receiver.answers.pop(0) if receiver.answers else receiver.default
                    )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if receiver.drop_connections:
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def ids(self) -> list[str]:
        with self.lock:
            return [headers["webhook-id"] for headers, _ in self.calls]

    def messages(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, body in self.calls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def first_occurrences(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


# --------------------------------------------------------------------------
# fixtures


class Frozen:
    """The service's clock, standing still until moved."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def frozen():
    now = Frozen()
    clock.set_clock(now)
    yield now
    clock.set_clock(None)


@pytest.fixture
def db():
    database = make_db()
    yield database
    database.close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


CONFIG = Config(allow_private=True, retry_min=5, retry_max=3600, disable_after=600, timeout=5)


def dispatcher(db, name: str = "one", **config) -> Dispatcher:
    return Dispatcher(db, Config(**{**CONFIG.__dict__, **config}), name=name)


def write(db, change, actor: str = "test"):
    """``change(ctx)`` in its own committed transaction, as ``system:<actor>``."""
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    try:
        with tm:
            ctx = Context(conn.root()[ROOT_KEY], Actor.script(actor), CREDENTIALS)
            return change(ctx)
    finally:
        conn.close()


def read_root(db, func):
    conn = db.open()
    try:
        return func(conn.root()[ROOT_KEY])
    finally:
        conn.close()


def subscribe(db, url: str, **kw) -> tuple[str, str]:
    """A subscription (to ``group.*`` unless told otherwise) and its secret."""
    kw.setdefault("types", ["group.*"])

    def make(ctx):
        subscription, secret = create_subscription(ctx, url=url, allow_private=True, **kw)
        return subscription.id, secret

    return write(db, make)


def groups(db, *names: str) -> None:
    for name in names:  # one transaction each
        write(db, lambda ctx, name=name: create_group(ctx, ctx.root.groups, name))


def feed_ids(db, after: str | None = None) -> list[str]:
    def ids(root):
        start = decode_position(after) if after else None
        found, _ = read(root.feed, start, limit=10_000, accept=lambda item: True)
        return [f"{c.position.tid:016x}{c.position.index:08x}" for c in found]

    return read_root(db, ids)


def state(db, sub_id: str):
    return read_root(db, lambda root: root.webhooks[sub_id])


# --------------------------------------------------------------------------
# signatures and the message


def test_every_delivery_verifies_with_standardwebhooks(db, receiver):
    sub_id, secret = subscribe(db, receiver.url)
    start = read_root(db, lambda root: root.webhooks[sub_id].state.cursor)
    groups(db, "eng", "ops")
    write(db, lambda ctx: update_group(ctx, ctx.root.groups["eng"], title="Engineering"))
    dispatcher(db).run_once()
    assert len(receiver.calls) == 3
    verifier = Webhook(secret)
    for headers, body in receiver.calls:
        message = verifier.verify(body, headers)
        assert message["data"]["id"] == headers["webhook-id"]
        assert message["timestamp"] == message["data"]["time"]
        assert message["type"] == message["data"]["type"]
        assert set(message["data"]) == {
            "id",
            "cursor",
            "type",
            "time",
            "actor",
            "target",
            "groups",
            "data",
        }
    assert [m["type"] for m in receiver.messages()] == ["group.created"] * 2 + ["group.changed"]
    assert receiver.messages()[2]["data"]["data"] == {
        "before": {"title": "eng"},
        "after": {"title": "Engineering"},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(receiver.calls[0][1], receiver.calls[0][0])
    headers, body = receiver.calls[0]
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body.replace(b"group.created", b"group.deleted"), headers)
    sub = state(db, sub_id)
    assert sub.state.cursor > tuple(start)
    assert receiver.ids() == feed_ids(db)[-3:]
    assert [entry["status"] for entry in sub.state.log] == [200, 200, 200]


def test_a_run_of_deliveries_shares_one_kept_alive_connection(db, receiver):
    subscribe(db, receiver.url)
    groups(db, "a", "b", "c", "d")
    dispatcher(db).run_once()
    assert [m["type"] for m in receiver.messages()] == ["group.created"] * 4
    assert len(set(receiver.peers)) == 1


def test_a_connection_the_receiver_dropped_is_opened_anew_and_nothing_is_lost(db, receiver):
    receiver.drop_connections = True
    sub_id, _ = subscribe(db, receiver.url)
    groups(db, "a", "b", "c")
    dispatcher(db).run_once()
    assert receiver.ids() == feed_ids(db)[-3:]
    assert len(set(receiver.peers)) == 3
    assert [entry["status"] for entry in state(db, sub_id).state.log] == [200, 200, 200]


def test_one_sender_reuses_its_connection_only_for_the_same_target(receiver):
    other = Receiver()
    try:
        with sending.Sender() as sender:
            for url in (receiver.url, receiver.url, other.url, receiver.url):
                attempt = sender.post(url, b"{}", {}, timeout=5, allow_private=True)
                assert attempt.ok
        assert len(receiver.calls) == 3 and len(other.calls) == 1
        assert len(set(receiver.peers)) == 2  # a new connection after the other target
    finally:
        other.close()


def test_only_the_chosen_types_and_subtree_are_sent(db, receiver):
    groups(db, "eng", "ops")
    write(db, lambda ctx: create_user(ctx, "ann"))
    eng = read_root(db, lambda root: root.groups["eng"].path)
    sub_id, _ = subscribe(db, receiver.url, path=eng, types=["membership.*"])
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["eng"], "ann"))
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["ops"], "ann"))
    write(db, lambda ctx: create_group(ctx, ctx.root.groups["eng"].groups, "backend"))
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["eng"].groups["backend"], "ann"))
    dispatcher(db).run_once()
    targets = [m["data"]["target"] for m in receiver.messages()]
    assert targets == [
        "/groups/eng/members/ann",
        "/groups/eng/groups/backend/members/ann",
    ]
    # the cursor moved past what was not for it: nothing is read again
    sub = state(db, sub_id)
    assert sub.state.cursor == tuple(decode_position(feed_ids(db)[-1]))


# --------------------------------------------------------------------------
# order, at least once, crashes and leases


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs, no transaction commits."""


def test_order_and_at_least_once_across_a_crash_and_a_lease_takeover(db, receiver, frozen):
    sub_id, secret = subscribe(db, receiver.url)
    groups(db, *(f"g{n}" for n in range(30)))
    expected = feed_ids(db)[-30:]
    sent = []

    def dying_post(*args, **kw):
        if len(sent) == 12:
            raise Crash()
        sent.append(1)
        from membership.dispatch import sending

        return sending.post(*args, **kw)

    first = dispatcher(db, "first", lease_seconds=60)
    first.post = dying_post
    with pytest.raises(Crash):
        first.run_once()
    assert receiver.ids() == expected[:12]
    assert state(db, sub_id).state.cursor < tuple(decode_position(expected[0]))  # not moved
    second = dispatcher(db, "second", lease_seconds=60)
    second.run_once()
    assert receiver.ids() == expected[:12]  # the dead one's lease still holds
    frozen.advance(61)
    second.run_once()
    ids = receiver.ids()
    assert first_occurrences(ids) == expected  # every event, in order, none missing
    assert ids[:12] == ids[12:24] == expected[:12]  # sent again: at least once
    assert state(db, sub_id).lease.owner == "second"
    verifier = Webhook(secret)
    for headers, body in receiver.calls:
        verifier.verify(body, headers)


def test_a_live_lease_is_not_taken_and_a_lost_one_drops_progress(db, receiver, frozen):
    sub_id, _ = subscribe(db, receiver.url)
    groups(db, "a")
    one = dispatcher(db, "one", lease_seconds=10)
    two = dispatcher(db, "two", lease_seconds=10)
    work = one._take(f"webhook:{sub_id}")
    assert work is not None and len(work.items) == 1
    assert two.survey()[0] == []  # held: not ready ...
    assert two.survey()[1] == pytest.approx(frozen.t + 10)  # ... until the lease runs out
    outcome = one._send(work)  # sent, but one stalls before recording it
    frozen.advance(11)
    two.run_once()
    assert not one._record(work, outcome)  # the lease went to two: one's record is dropped
    assert state(db, sub_id).lease.owner == "two"
    assert len(receiver.calls) == 2 and len(set(receiver.ids())) == 1  # at least once
    assert state(db, sub_id).state.cursor == tuple(decode_position(receiver.ids()[0]))


# --------------------------------------------------------------------------
# failures


def test_retries_back_off_and_resend_the_same_event(db, receiver, frozen):
    sub_id, _ = subscribe(db, receiver.url)
    groups(db, "a", "b")
    receiver.answers = [(500, {}), (502, {}), (500, {})]
    hook = dispatcher(db)
    delays = []
    for _ in range(3):
        hook.run_once()
        sub = state(db, sub_id)
        delays.append(sub.state.next_attempt - frozen.t)
        hook.run_once()  # not due yet: nothing is sent
        frozen.advance(delays[-1] + 0.01)
    assert 5 * 0.75 <= delays[0] <= 5 * 1.25
    assert 10 * 0.75 <= delays[1] <= 10 * 1.25
    assert 20 * 0.75 <= delays[2] <= 20 * 1.25
    hook.run_once()
    ids = receiver.ids()
    assert len(ids) == 5 and len(set(ids[:4])) == 1 and ids[4] != ids[0]
    sub = state(db, sub_id)
    assert sub.active and sub.state.attempts == 0 and sub.state.failing_since is None
    log = sub.state.log
    assert [e["status"] for e in log] == [500, 502, 500, 200, 200]
    assert [e["attempt"] for e in log] == [1, 2, 3, 4, 1]
    assert log[0]["error"] == "HTTP 500" and log[0]["next_attempt"] is not None
    assert log[0]["event"] == ids[0]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(db, receiver, frozen, status):
    sub_id, _ = subscribe(db, receiver.url)
    groups(db, "a")
    receiver.answers = [(status, {"Retry-After": "120"})]
    hook = dispatcher(db)
    hook.run_once()
    assert state(db, sub_id).state.next_attempt == pytest.approx(frozen.t + 120)
    frozen.advance(119)
    hook.run_once()
    assert len(receiver.calls) == 1
    frozen.advance(2)
    hook.run_once()
    assert len(receiver.calls) == 2 and len(set(receiver.ids())) == 1


def test_retry_after_as_an_http_date():
    from membership.dispatch.sending import retry_after

    now = time.time()
    when = datetime.fromtimestamp(now + 90, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after(when, now) == pytest.approx(90, abs=1)
    assert retry_after("7", now) == 7
    assert retry_after("soon", now) is None


def disabled_events(db) -> list[dict]:
    def items(root):
        found, _ = read(
            root.feed, None, limit=10_000, accept=lambda i: i["type"] == "webhook.disabled"
        )
        return [c.item for c in found]

    return read_root(db, items)


def test_a_410_disables_the_subscription_at_once(db, receiver, frozen):
    sub_id, _ = subscribe(db, receiver.url)
    groups(db, "a", "b")
    receiver.answers = [(410, {})]
    dispatcher(db).run_once()
    sub = state(db, sub_id)
    assert not sub.active and "410" in sub.disabled_reason
    [event] = disabled_events(db)
    assert event["target"] == f"/webhooks/{sub_id}"
    assert event["actor"] == "system:membership_dispatch"
    frozen.advance(3600)
    dispatcher(db).run_once()
    assert len(receiver.calls) == 1  # nothing more for a disabled subscription


def test_a_failure_window_disables_and_raises_webhook_disabled(db, receiver, frozen):
    sub_id, _ = subscribe(db, receiver.url)
    groups(db, "a")
    receiver.default = (500, {})
    hook = dispatcher(db, disable_after=600)
    started = frozen.t
    for _ in range(20):
        hook.run_once()
        sub = state(db, sub_id)
        if not sub.active:
            break
        assert sub.state.next_attempt <= started + 600 + 0.001  # the last try comes in time
        frozen.t = sub.state.next_attempt + 0.01
    sub = state(db, sub_id)
    assert not sub.active and sub.disabled_reason.startswith("deliveries failed for 600")
    assert frozen.t - started == pytest.approx(600, abs=1)
    assert len(disabled_events(db)) == 1
    history = read_root(db, lambda root: [e.action for e in root.history.oldest_first()])
    assert "webhook.disabled" in history
    # enabled again: a fresh window, and the same event again
    receiver.default = (200, {})
    write(db, lambda ctx: update_subscription(ctx, ctx.root.webhooks[sub_id], active=True))
    before = len(receiver.calls)
    hook.run_once()
    assert state(db, sub_id).active and receiver.ids()[before:] == receiver.ids()[:1]


def test_a_redirect_is_not_followed(db, receiver):
    sub_id, _ = subscribe(db, receiver.url)
    groups(db, "a")
    receiver.answers = [(302, {"Location": "http://169.254.169.254/"})]
    dispatcher(db).run_once()
    sub = state(db, sub_id)
    assert len(receiver.calls) == 1
    assert "redirect" in sub.state.last_error and sub.state.attempts == 1


def test_an_unreachable_receiver_is_a_failure_not_a_crash(db, frozen):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sub_id, _ = subscribe(db, f"http://127.0.0.1:{port}/")
    groups(db, "a")
    dispatcher(db).run_once()
    sub = state(db, sub_id)
    assert sub.state.attempts == 1 and "Connection" in sub.state.last_error
    assert sub.state.log[-1]["status"] is None


# --------------------------------------------------------------------------
# secrets, URLs, who may subscribe


def test_after_rotation_both_secrets_sign_for_a_day(db, receiver, frozen):
    sub_id, old = subscribe(db, receiver.url)
    new = write(db, lambda ctx: rotate_secret(ctx, ctx.root.webhooks[sub_id]))
    assert new != old and new.startswith("whsec_")
    groups(db, "a")
    dispatcher(db).run_once()
    headers, body = receiver.calls[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    frozen.advance(24 * 3600 + 1)
    groups(db, "b")
    dispatcher(db).run_once()
    headers, body = receiver.calls[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)


def test_a_secret_is_32_random_bytes_and_never_in_the_feed_or_history(db):
    import base64

    sub_id, secret = subscribe(db, "http://127.0.0.1:9/")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    write(db, lambda ctx: rotate_secret(ctx, ctx.root.webhooks[sub_id]))

    def everything(root):
        found, _ = read(root.feed, None, limit=1000, accept=lambda i: True)
        return json.dumps([c.item for c in found]) + repr(
            [(e.before, e.after) for e in root.history.oldest_first()]
        )

    text = read_root(db, everything)
    current = read_root(db, lambda root: root.webhooks[sub_id].secret)
    assert secret.removeprefix("whsec_") not in text
    assert current.removeprefix("whsec_") not in text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.5.5/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
    ],
)
def test_private_addresses_are_refused_unless_allowed(db, url):
    def create(ctx, allow):
        return create_subscription(ctx, url=url, allow_private=allow)

    with pytest.raises(Unprocessable) as refused:
        write(db, lambda ctx: create(ctx, False))
    assert refused.value.subject == "url"
    write(db, lambda ctx: create(ctx, True))


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http://u:p@example.com/"]
)
def test_other_schemes_and_credentials_are_refused_even_when_private_is_allowed(db, url):
    with pytest.raises(Unprocessable):
        write(db, lambda ctx: create_subscription(ctx, url=url, allow_private=True))


def test_delivery_checks_the_address_again(db, receiver):
    sub_id, _ = subscribe(db, receiver.url)  # allowed when made ...
    groups(db, "a")
    dispatcher(db, allow_private=False).run_once()  # ... refused when sent
    sub = state(db, sub_id)
    assert receiver.calls == [] and sub.state.last_error.startswith("refused:")


def test_who_may_subscribe_and_what_they_keep_receiving(db, receiver):
    groups(db, "eng", "ops")
    write(db, lambda ctx: create_user(ctx, "olga"))
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["eng"], "olga", "owner"))

    def as_olga(change):
        def run(ctx):
            return change(Context(ctx.root, Actor.user(ctx.root, "olga"), CREDENTIALS))

        return lambda ctx: run(ctx)

    for path in ("/", "/groups/ops"):
        with pytest.raises(NotPermitted):
            write(db, as_olga(lambda c, p=path: create_subscription(c, url=receiver.url, path=p)))
    sub_id = write(
        db,
        as_olga(
            lambda c: (
                create_subscription(c, url=receiver.url, path="/groups/eng", allow_private=True)[
                    0
                ].id
            )
        ),
    )
    write(db, lambda ctx: update_group(ctx, ctx.root.groups["eng"], title="E"))
    dispatcher(db).run_once()
    assert len(receiver.calls) == 1
    write(db, lambda ctx: change_member(ctx, ctx.root.groups["eng"], "olga", role="member"))
    write(db, lambda ctx: update_group(ctx, ctx.root.groups["eng"], title="Eng"))
    dispatcher(db).run_once()
    sub = state(db, sub_id)
    # without view-history on eng she gets nothing more, not even the role change
    assert [m["type"] for m in receiver.messages()] == ["group.changed"]
    assert not sub.active and "view-history" in sub.disabled_reason


def test_a_replay_from_a_cursor_sends_again(db, receiver):
    sub_id, _ = subscribe(db, receiver.url)
    groups(db, "a", "b", "c")
    hook = dispatcher(db)
    hook.run_once()
    first = receiver.ids()
    write(db, lambda ctx: update_subscription(ctx, ctx.root.webhooks[sub_id], cursor=first[0]))
    hook.run_once()
    assert receiver.ids() == first + first[1:]


def test_a_subscription_without_types_starts_with_its_own_creation(db, receiver):
    subscribe(db, receiver.url, types=[])
    groups(db, "a")
    dispatcher(db).run_once()
    assert [m["type"] for m in receiver.messages()] == ["webhook.created", "group.created"]


# --------------------------------------------------------------------------
# membership.expired


def expired_events(db) -> list[dict]:
    def items(root):
        found, _ = read(
            root.feed, None, limit=10_000, accept=lambda i: i["type"] == "membership.expired"
        )
        return [c.item for c in found]

    return read_root(db, items)


def test_membership_expired_is_raised_once_per_instant(db, frozen):
    groups(db, "eng")
    for name in ("ann", "bob", "cid", "dan"):
        write(db, lambda ctx, n=name: create_user(ctx, n))
    soon = frozen() + timedelta(seconds=10)
    later = frozen() + timedelta(seconds=20)
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["eng"], "ann", expires_at=soon))
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["eng"], "bob", expires_at=later))
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["eng"], "cid", expires_at=soon))
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["eng"], "dan"))
    write(db, lambda ctx: remove_member(ctx, ctx.root.groups["eng"], "cid"))  # gone first
    hook = dispatcher(db)
    assert hook.housekeeping() == pytest.approx(soon.timestamp())  # when to look next
    assert expired_events(db) == []
    frozen.advance(10)
    hook.run_once()
    hook.run_once()
    [ann] = expired_events(db)
    assert ann["target"] == "/groups/eng/members/ann"
    assert ann["groups"] == ["/groups/eng"]
    assert ann["data"]["after"]["expires_at"] == clock.rfc3339(soon)
    # a new expiry for bob, later than the first: one event, at the new instant
    latest = later + timedelta(seconds=30)
    write(db, lambda ctx: change_member(ctx, ctx.root.groups["eng"], "bob", expires_at=latest))
    frozen.advance(15)
    hook.run_once()
    assert len(expired_events(db)) == 1
    frozen.advance(30)
    hook.run_once()
    assert [e["target"] for e in expired_events(db)] == [
        "/groups/eng/members/ann",
        "/groups/eng/members/bob",
    ]
    # ann gets a new expiry after hers passed: that is a new instant
    again = frozen() + timedelta(seconds=5)
    write(db, lambda ctx: change_member(ctx, ctx.root.groups["eng"], "ann", expires_at=again))
    frozen.advance(6)
    hook.run_once()
    hook.run_once()
    assert len(expired_events(db)) == 3
    assert read_root(db, lambda root: len(root.expiries.due)) == 0


def test_expiries_follow_moves_and_are_announced_once_by_two_dispatchers(db, frozen):
    groups(db, "eng", "ops")
    write(db, lambda ctx: create_user(ctx, "ann"))
    soon = frozen() + timedelta(seconds=5)
    write(db, lambda ctx: create_group(ctx, ctx.root.groups["eng"].groups, "db"))
    write(
        db,
        lambda ctx: add_member(ctx, ctx.root.groups["eng"].groups["db"], "ann", expires_at=soon),
    )
    write(db, lambda ctx: move_group(ctx, ctx.root.groups["eng"].groups["db"], "/groups/ops"))
    frozen.advance(6)
    one, two = dispatcher(db, "one"), dispatcher(db, "two")
    results = []

    def run(hook):
        results.append(hook.housekeeping())

    threads = [threading.Thread(target=run, args=(h,)) for h in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    one.housekeeping()
    two.housekeeping()
    assert [e["target"] for e in expired_events(db)] == ["/groups/ops/groups/db/members/ann"]


def test_evolve_registers_the_expiries_still_ahead(db, frozen):
    groups(db, "eng")
    for name in ("ann", "bob"):
        write(db, lambda ctx, n=name: create_user(ctx, n))
    past = frozen() - timedelta(days=1)
    ahead = frozen() + timedelta(days=1)
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["eng"], "ann", expires_at=past))
    write(db, lambda ctx: add_member(ctx, ctx.root.groups["eng"], "bob", expires_at=ahead))

    def as_of_0_2(ctx):
        ctx.root.expiries = None
        ctx.root.webhooks = None
        ctx.root.generation = 2

    write(db, as_of_0_2)
    assert write(db, lambda ctx: evolve(ctx.root))[:2] == [3, 4]
    due = read_root(db, lambda root: list(root.expiries.due))
    assert due == [(ahead.timestamp(), "bob", "/groups/eng")]
    assert read_root(db, lambda root: root["webhooks"] is root.webhooks)


# --------------------------------------------------------------------------
# the feed's upkeep


def test_housekeeping_seals_and_trims_and_old_cursors_get_gone(db, receiver, frozen):
    sub_id, _ = subscribe(db, receiver.url)
    groups(db, "a", "b")
    pending = read_root(db, lambda root: len(root.feed.pending))
    assert pending >= 2
    hook = dispatcher(db, retention_days=7)
    hook.housekeeping()
    assert read_root(db, lambda root: (len(root.feed.pending), len(root.feed.sealed))) == (
        0,
        pending,
    )
    last = db.lastTransaction()
    hook.housekeeping()
    assert db.lastTransaction() == last  # nothing to do writes nothing
    write(db, lambda ctx: update_subscription(ctx, ctx.root.webhooks[sub_id], active=False))
    frozen.advance(8 * 86400)
    hook._next_trim = 0
    hook.housekeeping()
    assert read_root(db, lambda root: len(root.feed.sealed)) <= 1  # the pause itself may stay
    with pytest.raises(Gone):
        read_root(db, lambda root: read(root.feed, decode_position("0" * 24), limit=1, accept=bool))
    write(db, lambda ctx: update_subscription(ctx, ctx.root.webhooks[sub_id], active=True))
    hook.run_once()
    sub = state(db, sub_id)
    assert not sub.active and "older than what the change feed" in sub.disabled_reason
    assert receiver.calls == []
