"""RelStorage on PostgreSQL: the multi-process suite, the zconfig file, backup, packing.

PostgreSQL is ``MEMBERSHIP_TEST_PG_DSN`` (default: the local ``test`` database
at 127.0.0.1:5432); each module run works in a scratch database of its own,
created beside it and dropped afterwards. Without PostgreSQL (or RelStorage)
these tests are skipped with the reason, unless MEMBERSHIP_TEST_REQUIRE_PG=1
(``.ci/run`` sets it where PostgreSQL answers), which makes them fail.
"""

import contextlib
import os
import re
import shutil

import pytest

from .cluster_suite import Cluster, ClusterSuite, unique
from .servers import (
    PRODUCTION_INI,
    RELSTORAGE_CONF,
    AppServer,
    admin_token,
    assert_same_tree,
    dump_tree,
    expect,
    initialize_db,
    pg_scratch_database,
    pg_skip_or_fail,
    run,
    run_script,
    storage_records,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg():
    with pg_scratch_database() as database:
        yield database


@pytest.fixture(scope="module")
def cluster(pg, tmp_path_factory):
    directory = tmp_path_factory.mktemp("apps")
    uri = pg.relstorage_uri(keep_history="false")
    initialize_db(uri, directory)  # creates RelStorage's tables before any worker starts
    with contextlib.ExitStack() as stack:
        apps = [
            stack.enter_context(AppServer(directory / f"app{i}", uri, name=f"app{i}"))
            for i in range(2)
        ]
        cluster = Cluster(apps, admin_token(apps[0]), uri, directory)
        stack.callback(lambda: [app.stop() for app in cluster.extra])
        yield cluster


class TestRelStorage(ClusterSuite):
    """The shared multi-process suite on RelStorage + PostgreSQL (its zodburi resolver)."""


def test_the_zconfig_file_serves_the_same_database(pg, cluster, tmp_path):
    """relstorage.conf, as shipped except for its DSN, is a working zconfig:// storage."""
    conf = tmp_path / "relstorage.conf"
    conf.write_text(
        re.sub(
            r"^%define DSN .*$", f"%define DSN {pg.dsn}", RELSTORAGE_CONF.read_text(), flags=re.M
        )
    )
    with AppServer(tmp_path / "app", f"zconfig://{conf}", name="zconfig") as app:
        client = app.client(token=cluster.token)
        user = unique("zconf")
        expect(client.post("/users", {"id": user}), 201)
        other = cluster.client(1)
        expect(other.get(f"/users/{user}"))
        client.close()
        other.close()


def test_pg_dump_and_restore_give_back_the_same_tree(pg, cluster, tmp_path):
    """The PostgreSQL backup route: pg_dump -Fc, pg_restore into a new database."""
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pg_skip_or_fail("pg_dump/pg_restore not on PATH")
    client = cluster.client(0)
    group = unique("backup")
    expect(client.post("/groups", {"name": group}), 201)
    expect(client.post(f"/groups/{group}/groups", {"name": "sub"}), 201)
    for i in range(5):
        expect(client.post("/users", {"id": f"{group}-u{i}"}), 201)
        path = f"/groups/{group}" + ("/groups/sub" if i % 2 else "")
        expect(client.post(f"{path}/members", {"user": f"{group}-u{i}", "role": "member"}), 201)
    before = dump_tree(client)
    read_only = {"keep_history": "false", "read_only": "true"}
    original = storage_records(pg.relstorage_uri(**read_only))

    env = dict(os.environ, PGPASSWORD=pg.params.get("password", ""))
    dump = tmp_path / "membership.dump"
    # Online: pg_dump reads one consistent snapshot while the workers keep serving.
    run(["pg_dump", "--format=custom", f"--file={dump}", f"--dbname={pg.dsn}"], env=env)
    expect(client.post("/users", {"id": f"{group}-after"}), 201)  # not in the dump

    with pg_scratch_database("membership_restore") as restored:
        run(["pg_restore", "--no-owner", f"--dbname={restored.dsn}", str(dump)], env=env)
        # Object for object, byte for byte, the tree as it was when dumped.
        assert storage_records(restored.relstorage_uri(**read_only)) == original

        with AppServer(tmp_path / "app", restored.relstorage_uri(keep_history="false")) as app:
            reader = app.client(token=cluster.token)
            assert_same_tree(dump_tree(reader), before)
            expect(reader.get(f"/users/{group}-after"), 404)
            reader.close()
    client.close()


def test_pack_membership_db_packs_relstorage_online(cluster, tmp_path):
    client = cluster.client(0)
    group = unique("pack")
    expect(client.post("/groups", {"name": group}), 201)
    expect(client.delete(f"/groups/{group}"), 204)  # garbage for the pack to collect
    before = dump_tree(client)
    proc = run_script(
        "membership.scripts.pack", str(PRODUCTION_INI), "--days", "0", uri=cluster.uri, cwd=tmp_path
    )
    assert "packed postgres storage" in proc.stdout
    assert_same_tree(dump_tree(client), before)
    client.close()
