"""The optional NATS JetStream sink: every feed item, published in cursor order.

Subject ``membership.changes.<type>`` on the stream ``MEMBERSHIP_CHANGES``
(created if absent), header ``Nats-Msg-Id`` = the item's id, so JetStream
drops the copy a redelivery after a crash would otherwise add (within the
stream's duplicate window). Needs ``nats-py`` (``pip install membership[nats]``).
"""

import asyncio
import logging

log = logging.getLogger(__name__)

STREAM = "MEMBERSHIP_CHANGES"
SUBJECT_PREFIX = "membership.changes"


def subject(kind: str) -> str:
    return f"{SUBJECT_PREFIX}.{kind}"


class NatsSink:
    def __init__(self, servers: tuple[str, ...], timeout: float = 10.0) -> None:
        self.servers = list(servers)
        self.timeout = timeout

    def publish(self, messages: list[tuple[str, str, bytes]]) -> tuple[int, str]:
        """Publish ``(id, subject, payload)`` in order; how many JetStream acknowledged,
        and the error that stopped the rest ("" if none)."""
        return asyncio.run(self._publish(messages))

    async def _publish(self, messages: list[tuple[str, str, bytes]]) -> tuple[int, str]:
        try:
            import nats
            from nats.js.errors import NotFoundError
        except ImportError:
            return 0, "nats-py is not installed (pip install 'membership[nats]')"

        async def quiet(exc: Exception) -> None:
            log.debug("nats: %s", exc)

        done = 0
        try:
            # (max_reconnect_attempts=0 would retry for ever: nats-py reads 0 as no limit)
            client = await asyncio.wait_for(
                nats.connect(
                    servers=self.servers,
                    connect_timeout=self.timeout,
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.1,
                    error_cb=quiet,
                ),
                timeout=self.timeout * 3,
            )
        except Exception as exc:
            return 0, f"cannot connect to {' '.join(self.servers)}: {exc!r}"[:500]
        try:
            stream = client.jetstream(timeout=self.timeout)
            try:
                await stream.stream_info(STREAM)
            except NotFoundError:
                await stream.add_stream(name=STREAM, subjects=[f"{SUBJECT_PREFIX}.>"])
            for msg_id, name, payload in messages:
                await stream.publish(name, payload, headers={"Nats-Msg-Id": msg_id})
                done += 1
            return done, ""
        except Exception as exc:
            return done, f"{type(exc).__name__}: {exc}"[:500]
        finally:
            await client.close()
