"""The dispatcher: webhooks (and the NATS sink) delivered from the change feed,
``membership.expired`` raised, the feed sealed and trimmed.

**Waiting costs nothing.** Between rounds no ZODB connection is open: the
loop reads the storage's last transaction id every ``poll_seconds`` and
opens a connection only when it moved, or when something it knows of is
due (a retry, an expiry instant, a lease of a dead process running out).

**A round** is one short transaction of housekeeping (seal the feed's
pending batches, trim what is older than the retention, raise
``membership.expired`` for the instants that passed), then a read-only
survey of the targets with something to deliver.

**A delivery cycle** for one target: (A) a short transaction takes or
renews its lease and reads up to ``CHUNK`` items after its cursor; then,
with no connection open, each item is POSTed in order until one fails;
(B) a second transaction, only if the lease is still ours, advances the
cursor to the last acknowledged item and records the attempts and any
failure (back-off, disable). A crash anywhere before (B) commits means the
same items are sent again: at least once, in order, nothing skipped.

**Leases** make one process deliver a target at a time: a persistent
record (owner, expiry) taken in a transaction (two takers conflict; one
wins), renewed by every (B), never released; a process that dies leaves it
to run out, and the others take over ``lease_seconds`` later at most.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import transaction
from transaction.interfaces import NoTransaction
from ZODB.POSException import ConflictError
from ZODB.TimeStamp import TimeStamp
from ZODB.utils import p64, u64

from .. import clock, metrics
from ..domain import Actor, Context, changes
from ..domain.expiry import announce_expired
from ..domain.setup import ROOT_KEY
from ..domain.webhooks import current_position, disable, may_receive
from ..model.webhooks import Sink, Subscription
from ..settings import Settings
from . import sending
from .nats import NatsSink, subject

log = logging.getLogger(__name__)

SCRIPT = "membership_dispatch"
#: Items read per delivery cycle.
CHUNK = 100
#: At most this often the feed's pending batches are sealed (seconds).
SEAL_EVERY = 2.0
#: At most this often the retention is applied (seconds).
TRIM_EVERY = 60.0
#: A round happens at least this often, whatever else is known (seconds).
IDLE_ROUND = 30.0
NATS_KEY = "sink:nats"


@dataclass(frozen=True)
class Config:
    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    workers: int = 4
    timeout: float = 10.0
    retry_min: float = 5.0
    retry_max: float = 86400.0
    disable_after: float = 86400.0
    allow_private: bool = False
    retention_days: float = 7.0
    nats_servers: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Config:
        return cls(
            lease_seconds=settings.dispatch_lease_seconds,
            poll_seconds=settings.dispatch_poll_seconds,
            workers=settings.dispatch_workers,
            timeout=settings.webhooks_timeout,
            retry_min=settings.webhooks_retry_min,
            retry_max=settings.webhooks_retry_max,
            disable_after=settings.webhooks_disable_after,
            allow_private=settings.webhooks_allow_private,
            retention_days=settings.changes_retention_days,
            nats_servers=settings.changes_nats_url,
        )


@dataclass
class Work:
    """What a delivery cycle read in (A) and sends without a connection."""

    key: str
    version: int
    items: list[tuple[changes.Position, dict]]
    resume: changes.Position  # the cursor once every item is acknowledged
    url: str = ""
    secrets: list[str] = field(default_factory=list)
    lease_until: float = 0.0


@dataclass
class Outcome:
    delivered: changes.Position | None = None
    entries: list[dict] = field(default_factory=list)
    failure: sending.Attempt | None = None
    complete: bool = False  # every item of the work acknowledged


def time_of(tid: int) -> float:
    """When the transaction ``tid`` committed (POSIX seconds)."""
    return TimeStamp(p64(tid)).timeTime()


def tid_at(when: float) -> int:
    """The smallest transaction id of ``when`` (POSIX seconds)."""
    t = time.gmtime(when)
    return u64(TimeStamp(t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec).raw())


def accepts(subscription: Subscription) -> Callable[[dict], bool]:
    by_type = changes.type_filter(list(subscription.types))
    scope = subscription.scope
    if scope is None:
        return by_type
    return lambda item: scope in item["objects"] and by_type(item)


def _accept_all(item: dict) -> bool:
    return True


def _pushes_tids(storage) -> bool:
    """Whether ``lastTransaction()`` moves without a connection polling (in-process
    storages, and ZEO, whose server pushes invalidations)."""
    from ZODB.DemoStorage import DemoStorage
    from ZODB.FileStorage import FileStorage
    from ZODB.MappingStorage import MappingStorage

    kinds: tuple = (FileStorage, MappingStorage, DemoStorage)
    try:
        from ZEO.ClientStorage import ClientStorage

        kinds = (*kinds, ClientStorage)
    except ImportError:
        pass
    return isinstance(storage, kinds)


class Dispatcher:
    def __init__(
        self,
        db,
        config: Config,
        *,
        name: str | None = None,
        now: Callable[[], float] | None = None,
        post: Callable[..., sending.Attempt] | None = None,
        exclusive: bool = False,
    ) -> None:
        self.db = db
        self.config = config
        self.owner = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.now = now or (lambda: clock.now().timestamp())
        self.post = post
        #: The only process that can open the storage (FileStorage): every lease not
        #: ours was left by a process that died, and need not be waited out.
        self.exclusive = exclusive
        self.nats = NatsSink(config.nats_servers, config.timeout) if config.nats_servers else None
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._running: set[str] = set()
        self._lock = threading.Lock()
        #: key -> (version, cursor, filter), position: scanned up to there, nothing accepted.
        self._scanned: dict[str, tuple[tuple, changes.Position]] = {}
        self._next_seal = 0.0
        self._next_trim = 0.0
        self._poll_with_connection = not _pushes_tids(db.storage)
        self.thread: threading.Thread | None = None

    # ------------------------------------------------------------------
    # the loop

    def start(self) -> Dispatcher:
        """Run the loop in a daemon thread (the in-process dispatcher)."""
        self.thread = threading.Thread(target=self.run_forever, name="dispatcher", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_forever(self) -> None:
        executor = ThreadPoolExecutor(self.config.workers, thread_name_prefix="webhook")
        seen = None
        wake_at = 0.0
        try:
            while not self._stop.is_set():
                try:
                    tid = self.last_tid()
                    if tid != seen or self.now() >= wake_at or self._kick.is_set():
                        self._kick.clear()
                        seen = tid
                        wake_at = self.round(executor)
                except Exception:
                    if self._stop.is_set():
                        break
                    log.exception("dispatcher round failed; trying again in 5 s")
                    wake_at = self.now() + 5.0
                self._stop.wait(self.config.poll_seconds)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def run_once(self) -> None:
        """One round, every delivery done before it returns (tests, a one-shot script)."""
        self.round(None)

    def last_tid(self) -> bytes:
        if self._poll_with_connection:  # RelStorage: a connection's start polls the database
            with self._session() as (_, root):
                return root._p_jar._storage.lastTransaction() if root is not None else b""
        return self.db.lastTransaction()

    def round(self, executor: ThreadPoolExecutor | None) -> float:
        """Housekeeping, then every target with work; when to look again at the latest."""
        now = self.now()
        due = [now + IDLE_ROUND, self.housekeeping()]
        ready, wake = self.survey()
        due.append(wake)
        for key in ready:
            if executor is None:
                self.deliver(key)
                continue
            with self._lock:
                if key in self._running:
                    continue
                self._running.add(key)
            executor.submit(self._task, key)
        return min(d for d in due if d is not None)

    def _task(self, key: str) -> None:
        try:
            self.deliver(key)
        except Exception:
            log.exception("delivering %s failed", key)
        finally:
            with self._lock:
                self._running.discard(key)
            self._kick.set()

    @contextmanager
    def _session(self) -> Iterator[tuple[transaction.TransactionManager, object]]:
        tm = transaction.TransactionManager(explicit=True)
        conn = self.db.open(transaction_manager=tm)
        try:
            txn = tm.begin()
            txn.user = f"system:{SCRIPT}"
            yield tm, conn.root().get(ROOT_KEY)
        finally:
            try:
                tm.abort()
            except NoTransaction:
                pass
            conn.close()

    def _commit(self, tm, what: str) -> bool:
        try:
            tm.commit()
            return True
        except ConflictError:
            log.info("%s: a concurrent change conflicted; trying again later", what)
            tm.abort()
            return False

    # ------------------------------------------------------------------
    # housekeeping

    def housekeeping(self) -> float | None:
        """Seal, trim, raise ``membership.expired``; the next expiry instant, if any."""
        now = self.now()
        with self._session() as (tm, root):
            if root is None or root.feed is None:
                return None
            feed = root.feed
            wrote = False
            if now >= self._next_seal and feed.pending:
                wrote = feed.seal(history=root.history) > 0
                self._next_seal = now + SEAL_EVERY
            if self.config.retention_days and now >= self._next_trim:
                self._next_trim = now + TRIM_EVERY
                cutoff = tid_at(now - self.config.retention_days * 86400)
                if feed.sealed and feed.sealed.minKey() < cutoff:
                    wrote = feed.trim(cutoff) > 0 or wrote
            ctx = Context(root, Actor.script(SCRIPT))
            if announce_expired(ctx, now):
                wrote = True
            expiries = root.expiries
            next_due = expiries.next_due() if expiries is not None else None
            if wrote and not self._commit(tm, "housekeeping"):
                return now + self.config.poll_seconds
            if feed.pending:  # seal what is left (or what came meanwhile) soon
                next_due = min(next_due or self._next_seal, self._next_seal)
                _, oldest, _ = feed.unsealed()
                metrics.feed_unsealed(0.0 if oldest is None else time.time() - time_of(oldest))
            else:
                metrics.feed_unsealed(0.0)
            return next_due

    def seal_all(self, chunk: int = 1000) -> int:
        """Seal every committed pending batch, ``chunk`` per transaction; how many.

        For a backlog left by running without a dispatcher (``membership_dispatch
        --seal``): a round seals at most ``chunk`` batches every ``SEAL_EVERY``."""
        total = 0
        while True:
            with self._session() as (tm, root):
                if root is None or root.feed is None:
                    return total
                moved = root.feed.seal(chunk, history=root.history)
                if not moved:
                    metrics.feed_unsealed(0.0)
                    return total
                if self._commit(tm, "sealing"):
                    total += moved

    # ------------------------------------------------------------------
    # which targets have work

    def _targets(self, root) -> Iterator[tuple[str, object, Callable[[dict], bool]]]:
        for subscription in root.webhooks.values():
            if subscription.active:
                yield f"webhook:{subscription.id}", subscription, accepts(subscription)
        if self.nats is not None:
            yield NATS_KEY, root.webhooks.sinks.get("nats"), _accept_all

    def _held_by_other(self, lease, now: float) -> bool:
        return not self.exclusive and lease.held_by_other(self.owner, now)

    def _locate(self, root, key: str):
        kind, _, name = key.partition(":")
        if kind == "webhook":
            return root.webhooks.get(name)
        return root.webhooks.sinks.get(name)

    @staticmethod
    def _scan_key(record) -> tuple:
        state = record.state
        scope = getattr(record, "scope", None), getattr(record, "types", ())
        return state.version, tuple(state.cursor), scope

    def _start(self, key: str, record) -> changes.Position:
        """Where to read from: the cursor, or past what was already found uninteresting."""
        cached = self._scanned.get(key)
        if cached is not None and cached[0] == self._scan_key(record):
            return cached[1]
        return changes.Position(*record.state.cursor)

    def _remember_scan(self, key: str, record, position: changes.Position | None) -> None:
        if position is not None:
            self._scanned[key] = (self._scan_key(record), position)

    def survey(self) -> tuple[list[str], float | None]:
        """Keys of the targets with something to send now; when one may have later.

        Also sets the lag gauge (``membership_changes_lag_seconds``): the age of
        the oldest change some active target has not acknowledged yet, whoever
        holds its lease and whether or not it is waiting to retry.
        """
        now = self.now()
        ready: list[str] = []
        wake: float | None = None
        oldest: int | None = None  # tid of the oldest change still to deliver
        with self._session() as (_, root):
            if root is None or root.webhooks is None:
                return ready, None
            for key, record, accept in self._targets(root):
                if record is None:  # the sink's record is made by its first cycle
                    ready.append(key)
                    continue
                state, lease = record.state, record.lease
                try:
                    found, last = changes.read(
                        root.feed, self._start(key, record), limit=1, accept=accept
                    )
                except changes.Gone:
                    ready.append(key)  # its cycle says so (and disables it)
                    continue
                if not found:
                    self._remember_scan(key, record, last)
                    continue
                tid = found[0].position.tid
                oldest = tid if oldest is None else min(oldest, tid)
                if state.next_attempt > now:
                    wake = min(wake or state.next_attempt, state.next_attempt)
                    continue
                if self._held_by_other(lease, now):
                    wake = min(wake or lease.expires, lease.expires)
                    continue
                ready.append(key)
        metrics.feed_lag(0.0 if oldest is None else time.time() - time_of(oldest))
        return ready, wake

    # ------------------------------------------------------------------
    # a target's delivery cycles

    def deliver(self, key: str) -> None:
        """Cycles until the target has nothing more to send now (or fails, or stops)."""
        while not self.stopping:
            work = self._take(key)
            if work is None:
                return
            outcome = self._send(work)
            if not self._record(work, outcome) or outcome.failure is not None:
                return
            if outcome.complete and len(work.items) < CHUNK:
                return

    def _take(self, key: str) -> Work | None:
        """(A): the lease, and the next items, in one short transaction."""
        now = self.now()
        with self._session() as (tm, root):
            if root is None:
                return None
            record = self._locate(root, key)
            if record is None and key == NATS_KEY and self.nats is not None:
                record = root.webhooks.sinks["nats"] = Sink(current_position(root))
                if not self._commit(tm, key):
                    return None
                tm.begin()
            if record is None:
                return None
            subscription = record if isinstance(record, Subscription) else None
            if subscription is not None and not subscription.active:
                return None
            state, lease = record.state, record.lease
            if state.next_attempt > now or self._held_by_other(lease, now):
                return None
            ctx = Context(root, Actor.script(SCRIPT))
            if subscription is not None and not may_receive(root, subscription):
                disable(
                    ctx,
                    subscription,
                    f"its owner {subscription.owner} no longer holds view-history on "
                    f"{subscription.feed_path}",
                )
                self._commit(tm, key)
                return None
            accept = accepts(subscription) if subscription is not None else _accept_all
            try:
                found, last = changes.read(
                    root.feed, self._start(key, record), limit=CHUNK, accept=accept
                )
            except changes.Gone:
                reason = (
                    "its cursor is older than what the change feed still holds "
                    "(membership.changes.retention_days); set a new cursor to resume"
                )
                if subscription is not None:
                    disable(ctx, subscription, reason)
                else:
                    log.error("%s: %s; resuming at the oldest item held", key, reason)
                    state.set_cursor((root.feed.floor, 0))
                if self._commit(tm, key) and subscription is not None:
                    metrics.webhook_delivered("gave_up")
                return None
            if not found:
                self._remember_scan(key, record, last)
                return None
            if lease.owner != self.owner or lease.expires - now < self.config.lease_seconds / 2:
                lease.take(self.owner, now + self.config.lease_seconds)
                if not self._commit(tm, f"{key}: taking the lease"):
                    return None
            work = Work(
                key,
                state.version,
                [
                    (change.position, changes.present(change.position, change.item))
                    for change in found
                ],
                resume=last or found[-1].position,
                lease_until=lease.expires,
            )
            if subscription is not None:
                work.url = subscription.url
                work.secrets = subscription.signing_secrets(now)
            return work

    def _send(self, work: Work) -> Outcome:
        """Send in order, no connection open, until one fails or the lease runs short."""
        if work.key == NATS_KEY:
            return self._publish(work)
        with sending.Sender() as sender:
            return self._send_items(work, self.post or sender.post)

    def _send_items(self, work: Work, post: Callable[..., sending.Attempt]) -> Outcome:
        outcome = Outcome()
        for position, body in work.items:
            if self.stopping or work.lease_until - self.now() < self.config.lease_seconds / 3:
                return outcome  # (B) renews the lease, or finds it gone
            payload = sending.message(body["type"], body["time"], body)
            headers = sending.signed_headers(body["id"], payload, work.secrets, time.time())
            attempt = post(
                work.url,
                payload,
                headers,
                timeout=self.config.timeout,
                allow_private=self.config.allow_private,
            )
            outcome.entries.append(self._entry(body, attempt))
            metrics.webhook_delivered("delivered" if attempt.ok else "failed")
            if not attempt.ok:
                outcome.failure = attempt
                return outcome
            outcome.delivered = position
        outcome.complete = True
        return outcome

    def _publish(self, work: Work) -> Outcome:
        assert self.nats is not None
        started = time.monotonic()
        messages = [
            (
                body["id"],
                subject(body["type"]),
                sending.message(body["type"], body["time"], body),
            )
            for _, body in work.items
        ]
        done, error = self.nats.publish(messages)
        outcome = Outcome()
        if done:
            outcome.delivered = work.items[done - 1][0]
        latency = time.monotonic() - started
        if error:
            body = work.items[done][1] if done < len(work.items) else work.items[-1][1]
            outcome.failure = sending.Attempt(None, latency, error)
            outcome.entries.append(self._entry(body, outcome.failure))
        else:
            outcome.complete = True
        return outcome

    def _entry(self, body: dict, attempt: sending.Attempt) -> dict:
        return {
            "event": body["id"],
            "type": body["type"],
            "time": clock.rfc3339(clock.now()),
            "status": attempt.status,
            "latency_ms": round(attempt.latency * 1000, 1),
            "error": attempt.error,
            "attempt": 1,
            "next_attempt": None,
        }

    def _backoff(self, attempts: int, failure: sending.Attempt) -> float:
        if failure.retry_after is not None:
            return min(max(failure.retry_after, 0.0), self.config.retry_max)
        delay = self.config.retry_min * 2 ** min(attempts - 1, 40)
        return min(delay, self.config.retry_max) * random.uniform(0.75, 1.25)  # noqa: S311

    def _record(self, work: Work, outcome: Outcome) -> bool:
        """(B): the cursor, the attempts and the failure state, if the lease is still ours."""
        now = self.now()
        with self._session() as (tm, root):
            record = None if root is None else self._locate(root, work.key)
            if record is None:
                return False
            state, lease = record.state, record.lease
            if lease.owner != self.owner and not self.exclusive:
                log.warning("%s: lease lost to %s, which sends again", work.key, lease.owner)
                return False
            if state.version != work.version:  # the cursor was set by hand meanwhile
                state.record(outcome.entries)
                lease.take(self.owner, now + self.config.lease_seconds)
                return self._commit(tm, work.key)
            gave_up = False  # this failure disabled the subscription
            if outcome.entries and state.attempts:
                outcome.entries[0]["attempt"] = state.attempts + 1
            if outcome.complete:
                state.cursor = tuple(work.resume)
            elif outcome.delivered is not None:
                state.cursor = tuple(outcome.delivered)
            failure = outcome.failure
            if failure is None:
                if outcome.delivered is not None or outcome.complete:
                    state.succeeded()
            else:
                state.attempts += 1
                if state.failing_since is None:
                    state.failing_since = now
                next_attempt = now + self._backoff(state.attempts, failure)
                if failure.retry_after is None:  # the last try comes as the window closes
                    next_attempt = min(
                        next_attempt, state.failing_since + self.config.disable_after
                    )
                state.next_attempt = next_attempt
                state.last_error = failure.error
                if outcome.entries:
                    outcome.entries[-1]["next_attempt"] = clock.rfc3339(
                        _datetime(state.next_attempt)
                    )
                subscription = record if isinstance(record, Subscription) else None
                ctx = Context(root, Actor.script(SCRIPT))
                if subscription is not None:
                    if failure.status == 410:
                        disable(ctx, subscription, "the receiver answered 410 Gone")
                        gave_up = True
                    elif now - state.failing_since >= self.config.disable_after:
                        gave_up = True
                        disable(
                            ctx,
                            subscription,
                            f"deliveries failed for {now - state.failing_since:.0f} s "
                            f"(last: {failure.error})",
                        )
                    if not subscription.active and outcome.entries:
                        outcome.entries[-1]["next_attempt"] = None
            state.record(outcome.entries)
            lease.take(self.owner, now + self.config.lease_seconds)
            committed = self._commit(tm, work.key)
            if committed and gave_up:
                metrics.webhook_delivered("gave_up")
            return committed


def _datetime(stamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(stamp, UTC)
