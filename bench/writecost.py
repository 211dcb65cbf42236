"""What one write costs on disk, and what a page of members loads: counted, not timed.

``python -m bench.writecost [--members N] [--json]`` builds a real FileStorage
in a temporary directory (a group ``g`` with N members), then makes each
operation the API makes, one transaction each, through the domain functions
the views call (so every subscriber runs: index, expiry, audit, feed), and
reads the transaction record it left with ``FileStorage.iterator()``: how
many object records it holds and their bytes. The group is filled through
``add_member`` (as the API fills it), and the feed is sealed after filling,
as the dispatcher does every two seconds. It also opens a cold connection
and counts the objects a page of 100 members makes the connection load, and
times sequential adds (one transaction each) on the same storage.

``measure()`` returns the figures as a dict, for the bench report.
"""

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import transaction
from ZODB import DB
from ZODB.FileStorage import FileStorage

from membership.credentials import Credentials
from membership.domain import Actor, Context
from membership.domain.groups import create_group
from membership.domain.members import add_member, change_member, remove_member
from membership.domain.queries import member_rows
from membership.domain.setup import ROOT_KEY, ensure_tree
from membership.domain.users import create_missing_users, create_user
from membership.paging import take

CREDENTIALS = Credentials(time_cost=1, memory_cost=8, parallelism=1)
OPERATIONS = ("add", "remove", "role change", "user create", "group create")


def last_record(storage: FileStorage) -> tuple[int, int, dict[str, int]]:
    """Objects, bytes and bytes per class of the storage's last transaction record."""
    last = storage.lastTransaction()
    for txn in storage.iterator(start=last):
        objects = 0
        size = 0
        kinds: dict[str, int] = {}
        for record in txn:
            objects += 1
            size += len(record.data or b"")
            kind = _class_of(record.data)
            kinds[kind] = kinds.get(kind, 0) + len(record.data or b"")
        return objects, size, kinds
    raise LookupError("no transaction")


def _class_of(data: bytes | None) -> str:
    from ZODB.serialize import get_refs  # noqa: F401  (keeps the import cheap elsewhere)
    from ZODB.utils import get_pickle_metadata

    if not data:
        return "?"
    module, name = get_pickle_metadata(data)
    return f"{module.rsplit('.', 1)[-1]}.{name}"


def _context(root, actor: str = "admin") -> Context:
    if actor.startswith("system:"):
        return Context(root, Actor.script(actor[7:]), CREDENTIALS)
    return Context(root, Actor.user(root, actor), CREDENTIALS)


class Bench:
    def __init__(self, directory: Path, members: int) -> None:
        self.storage = FileStorage(str(directory / "Data.fs"))
        self.db = DB(self.storage, cache_size=100_000)
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(transaction_manager=self.tm)
        with self.tm:
            root, _ = ensure_tree(self.conn.root())
            ctx = _context(root, "system:bench")
            create_user(ctx, "admin", password="admin password")
            add_member(ctx, root.groups["admins"], "admin", "owner")
            create_group(ctx, root.groups, "g", title="G")
        for start in range(0, members, 10_000):  # users first, then adds as the API makes them
            with self.tm:
                root = self.conn.root()[ROOT_KEY]
                create_missing_users(
                    _context(root, "system:bench"),
                    (f"m{n:07d}" for n in range(start, min(members, start + 10_000))),
                )
            with self.tm:
                root = self.conn.root()[ROOT_KEY]
                ctx, group = _context(root), root.groups["g"]
                for n in range(start, min(members, start + 10_000)):
                    add_member(ctx, group, f"m{n:07d}")
            self.seal()
        self.members = members

    def seal(self) -> None:
        """What the dispatcher does every few seconds: index the feed's pending batches."""
        with self.tm:
            root = self.conn.root()[ROOT_KEY]
            try:
                while root.feed.seal(history=root.history):
                    pass
            except TypeError:  # code from before events lived in the feed (no history=)
                while root.feed.seal():
                    pass

    def one(self, action: Callable) -> tuple[int, int, dict[str, int]]:
        with self.tm:
            root = self.conn.root()[ROOT_KEY]
            action(root, _context(root))
        return last_record(self.storage)

    def page_loads(self, after: str = "m0000500") -> tuple[int, int]:
        """Objects a cold connection loads for a page of 100: from the root, and from the group."""
        self.db.cacheMinimize()
        conn = self.db.open()
        try:
            conn.cacheMinimize()
            root = conn.root()[ROOT_KEY]
            group = root.groups["g"]
            members = group.members
            members._p_activate()
            before = conn._cache.cache_non_ghost_count
            page, _ = take(
                member_rows(members, role=None, prefix="", after=after, with_expired=True), 100
            )
            assert len(page) == 100 or len(page) == max(0, self.members - 501)
            read = [(m.role, m.added_by, m.added_at, m.expires_at) for _, m in page]
            assert len(read) == len(page)  # what the page body reads
            total = conn._cache.cache_non_ghost_count
            return total, total - before
        finally:
            conn.close()

    def adds_per_second(self, count: int = 300, profiler=None) -> tuple[float, float]:
        """Sequential adds, one transaction each: ``(adds per second, CPU ms per add)``.
        The first is bound by fsync on a busy disk; the second is what the code costs."""
        with self.tm:
            root = self.conn.root()[ROOT_KEY]
            ctx = _context(root, "system:bench")
            for n in range(count):
                create_user(ctx, f"speed{n:05d}")
        start = time.perf_counter()
        cpu = time.process_time()
        if profiler is not None:
            profiler.start()
        for n in range(count):
            with self.tm:
                root = self.conn.root()[ROOT_KEY]
                add_member(_context(root), root.groups["g"], f"speed{n:05d}")
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        if profiler is not None:
            profiler.stop()
        return count / elapsed, 1000 * cpu / count

    def close(self) -> None:
        self.conn.close()
        self.db.close()


def measure(members: int = 1000, adds: int = 300, profiler=None) -> dict:
    """Objects and bytes per operation, a page's cold loads and sequential adds per second."""
    directory = Path(tempfile.mkdtemp(prefix="writecost-"))
    bench = Bench(directory, members)
    try:
        with bench.tm:
            create_user(_context(bench.conn.root()[ROOT_KEY]), "newbie")
        results: dict = {"members": members, "writes": {}}
        steps = {
            "user create": lambda root, ctx: create_user(ctx, "another", password="p" * 12),
            "add": lambda root, ctx: add_member(ctx, root.groups["g"], "newbie"),
            "role change": lambda root, ctx: change_member(
                ctx, root.groups["g"], "newbie", role="manager"
            ),
            "remove": lambda root, ctx: remove_member(ctx, root.groups["g"], "newbie"),
            "group create": lambda root, ctx: create_group(ctx, root.groups, "h", title="H"),
        }
        measured = {}
        for name, step in steps.items():  # in an order where each one can run
            objects, size, kinds = bench.one(step)
            measured[name] = {"objects": objects, "bytes": size, "by_class": kinds}
        results["writes"] = {name: measured[name] for name in OPERATIONS}
        total, from_group = bench.page_loads()
        results["page"] = {"cold_objects": total, "objects_after_group": from_group}
        rate, cpu = bench.adds_per_second(adds, profiler)
        results["adds_per_second"] = round(rate, 1)
        results["cpu_ms_per_add"] = round(cpu, 3)
        return results
    finally:
        bench.close()
        shutil.rmtree(directory, ignore_errors=True)


def table(results: dict) -> str:
    lines = [f"Writes with {results['members']:,} members in the group (FileStorage record)"]
    lines.append(f"{'operation':<14}{'objects':>8}{'bytes':>8}")
    for name, row in results["writes"].items():
        lines.append(f"{name:<14}{row['objects']:>8}{row['bytes']:>8}")
    page = results["page"]
    lines.append(
        f"page of 100 members, cold: {page['cold_objects']} objects loaded "
        f"({page['objects_after_group']} after the group's members container)"
    )
    lines.append(
        f"sequential adds in process: {results['adds_per_second']}/s, "
        f"{results['cpu_ms_per_add']} ms CPU each"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--adds", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--classes", action="store_true", help="bytes per class, per operation")
    parser.add_argument(
        "--profile", action="store_true", help="the sequential adds under pyinstrument"
    )
    args = parser.parse_args(argv)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
    results = measure(args.members, args.adds, profiler)
    if profiler is not None:
        from pyinstrument.renderers import ConsoleRenderer

        renderer = ConsoleRenderer(unicode=True, time="percent_of_total", show_all=False)
        print(renderer.render(profiler.last_session))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(table(results))
    if args.classes:
        for name, row in results["writes"].items():
            print(name, row["by_class"])


if __name__ == "__main__":
    main()
