"""Backup and maintenance of a FileStorage behind ZEO, as README.md, Deployment describes.

* ``repozo``: a full backup, then an incremental one, both online; a restore
  that is compared with the original object for object and through the API.
* ``pack_membership_db``: online packing with a retention period.
"""

import sys
import time
from pathlib import Path

import pytest
from ZODB.FileStorage import FileStorage

from .cluster_suite import unique
from .servers import (
    PRODUCTION_INI,
    AppServer,
    Client,
    ZEOServer,
    admin_token,
    assert_same_tree,
    dump_tree,
    expect,
    initialize_db,
    run,
    run_script,
    storage_records,
    verify_filestorage,
)

pytestmark = pytest.mark.slow


def next_second() -> None:
    """repozo names backup files by the second; two in one second shadow each other."""
    time.sleep(1.05 - time.time() % 1)


def repozo(*args: str):
    return run(
        [sys.executable, "-c", "import sys; from ZODB.scripts.repozo import main; main()", *args]
    )


def populate(client: Client, tag: str, users: int = 8) -> str:
    """A group with a subgroup and members in both, in several roles."""
    group = unique(tag)
    expect(client.post("/groups", {"name": group}), 201)
    expect(client.post(f"/groups/{group}/groups", {"name": "sub"}), 201)
    for i in range(users):
        uid = f"{group}-u{i}"
        expect(client.post("/users", {"id": uid}), 201)
        path = f"/groups/{group}" + ("/groups/sub" if i % 3 == 0 else "")
        role = ("member", "manager", "owner")[i % 3]
        expect(client.post(f"{path}/members", {"user": uid, "role": role}), 201)
    return group


def test_repozo_full_then_incremental_backup_restores_the_same_tree(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    with ZEOServer(tmp_path / "zeo") as zeo:
        initialize_db(zeo.uri, tmp_path)
        with AppServer(tmp_path / "app", zeo.uri) as app:
            token = admin_token(app)
            client = app.client(token=token)
            populate(client, "full")
            repozo("--backup", "--full", "-r", str(backups), "-f", str(zeo.data_fs))
            populate(client, "incremental")
            next_second()
            repozo("--backup", "-r", str(backups), "-f", str(zeo.data_fs))
            snapshot = dump_tree(client)
            late = populate(client, "late")  # after the last backup: must not come back
            client.close()
    kinds = sorted(p.suffix for p in backups.iterdir())
    assert kinds.count(".fs") == 1 and kinds.count(".deltafs") == 1, kinds

    repozo("--verify", "-r", str(backups))
    restored = tmp_path / "restored" / "Data.fs"
    restored.parent.mkdir()
    repozo("--recover", "-r", str(backups), "-o", str(restored))
    verify_filestorage(restored)

    # Object for object: every record reachable in the restore is the
    # original's revision with the same serial, byte for byte.
    copy = storage_records(f"file://{restored}?read_only=1")
    original = FileStorage(str(zeo.data_fs), read_only=True)
    try:
        for oid, (data, serial) in copy.items():
            assert original.loadSerial(oid, serial) == data
    finally:
        original.close()

    # Through the API: the tree as it was at the incremental backup.
    with ZEOServer(restored.parent) as zeo2, AppServer(tmp_path / "app2", zeo2.uri) as app2:
        reader = app2.client(token=token)
        assert_same_tree(dump_tree(reader), snapshot)
        expect(reader.get(f"/groups/{late}"), 404)
        reader.close()


def _size(path: Path) -> int:
    return path.stat().st_size


def test_pack_membership_db_keeps_the_retention_period_and_the_tree(tmp_path):
    with ZEOServer(tmp_path / "zeo") as zeo:
        initialize_db(zeo.uri, tmp_path)
        with AppServer(tmp_path / "app", zeo.uri) as app:
            client = app.client(token=admin_token(app))
            group = populate(client, "pack")
            uid = f"{group}-u1"
            for n in range(40):  # old revisions of one membership
                role = ("member", "manager")[n % 2]
                expect(client.patch(f"/groups/{group}/members/{uid}", {"role": role}))
            gone = populate(client, "gone")
            expect(client.delete(f"/groups/{gone}"), 204)  # unreachable objects
            snapshot = dump_tree(client)
            unpacked = _size(zeo.data_fs)

            def pack(days: str) -> str:
                proc = run_script(
                    "membership.scripts.pack",
                    str(PRODUCTION_INI),
                    "--days",
                    days,
                    uri=zeo.uri,
                    cwd=tmp_path,
                )
                return proc.stdout

            # Everything is younger than a day: nothing may go.
            assert "keeping 1 days" in pack("1")
            assert _size(zeo.data_fs) == unpacked
            assert "keeping 0 days" in pack("0")
            assert _size(zeo.data_fs) < unpacked
            assert (tmp_path / "zeo" / "Data.fs.old").exists()

            # The app, still running, reads the same tree and keeps writing.
            assert_same_tree(dump_tree(client), snapshot)
            expect(client.post("/users", {"id": unique("after-pack")}), 201)
            client.close()
    verify_filestorage(zeo.data_fs)
