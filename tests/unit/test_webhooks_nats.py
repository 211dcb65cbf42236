"""The NATS JetStream sink: every change published in order, ``Nats-Msg-Id`` = its id,
and a redelivery dropped by JetStream as a duplicate.

Against the machine's ``nats-server -js`` on 127.0.0.1:4222; skipped (with the
reason) where it does not answer or nats-py is not installed.
"""

import asyncio
import json
import socket

import pytest

from membership.dispatch import Config, Dispatcher
from membership.dispatch.nats import STREAM
from membership.domain.changes import encode_position

from .test_webhooks import db, feed_ids, groups, read_root, write  # noqa: F401

NATS = "nats://127.0.0.1:4222"


def _nats_answers() -> str | None:
    try:
        import nats  # noqa: F401
    except ImportError:
        return "nats-py is not installed (pip install -e '.[nats]')"
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1) as sock:
            sock.settimeout(1)
            if not sock.recv(4096).startswith(b"INFO"):
                return "something on 127.0.0.1:4222 that is not a NATS server"
    except OSError as exc:
        return f"no NATS server on 127.0.0.1:4222 ({exc})"
    return None


pytestmark = pytest.mark.skipif(_nats_answers() is not None, reason=str(_nats_answers()))


async def _stream_messages(after_seq: int) -> tuple[int, list[tuple[str, dict, str]]]:
    import nats

    client = await nats.connect(NATS)
    try:
        stream = client.jetstream()
        info = await stream.stream_info(STREAM)
        found = []
        for seq in range(after_seq + 1, info.state.last_seq + 1):
            msg = await stream.get_msg(STREAM, seq)
            found.append((msg.headers["Nats-Msg-Id"], json.loads(msg.data), msg.subject))
        return info.state.last_seq, found
    finally:
        await client.close()


def stream_after(seq: int):
    return asyncio.run(_stream_messages(seq))


def last_seq() -> int:
    from nats.js.errors import NotFoundError

    try:
        return stream_after(1 << 62)[0]
    except NotFoundError:
        return 0


def test_changes_are_published_once_each_in_order(db):  # noqa: F811
    hook = Dispatcher(db, Config(nats_servers=(NATS,)), name="nats")
    hook.run_once()  # the sink starts here: what came before is not published
    begin = read_root(db, lambda root: root.webhooks.sinks["nats"].state.cursor)
    start = last_seq()
    groups(db, "eng", "ops", "qa")
    hook.run_once()
    seq, published = stream_after(start)
    ours = feed_ids(db)[-3:]
    mine = [p for p in published if p[0] in ours]
    assert [msg_id for msg_id, _, _ in mine] == ours
    assert [body["data"]["target"] for _, body, _ in mine] == [
        "/groups/eng",
        "/groups/ops",
        "/groups/qa",
    ]
    assert {subject for _, _, subject in mine} == {"membership.changes.group.created"}
    cursor = read_root(db, lambda root: root.webhooks.sinks["nats"].state.cursor)
    assert encode_position(cursor) == ours[-1]
    # sent again (a crash before the cursor moved): JetStream drops the copies
    write(db, lambda ctx: ctx.root.webhooks.sinks["nats"].state.set_cursor(begin))
    hook.run_once()
    _, published = stream_after(seq)
    assert [p for p in published if p[0] in ours] == []
    assert read_root(db, lambda root: root.webhooks.sinks["nats"].state.attempts) == 0


def test_an_unreachable_server_is_retried_later(db):  # noqa: F811
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook = Dispatcher(db, Config(nats_servers=(f"nats://127.0.0.1:{port}",), timeout=1))
    hook.run_once()
    groups(db, "eng")
    hook.run_once()
    state = read_root(db, lambda root: root.webhooks.sinks["nats"].state)
    assert state.attempts == 1 and "cannot connect" in state.last_error
    assert state.next_attempt > 0
