"""ZEO: several app processes (gunicorn, production.ini) on one ZEO server.

The server is ``runzeo`` with the project's own zeo.conf on a free port and a
temporary FileStorage; the apps are real processes, not in-process WSGI.
"""

import contextlib
import time

import pytest

from .cluster_suite import Cluster, ClusterSuite, unique
from .servers import AppServer, ZEOServer, admin_token, initialize_db, verify_filestorage, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zeo(tmp_path_factory):
    with ZEOServer(tmp_path_factory.mktemp("zeo")) as server:
        yield server


@pytest.fixture(scope="module")
def cluster(zeo, tmp_path_factory):
    directory = tmp_path_factory.mktemp("apps")
    initialize_db(zeo.uri, directory)
    with contextlib.ExitStack() as stack:
        apps = [
            stack.enter_context(AppServer(directory / f"app{i}", zeo.uri, name=f"app{i}"))
            for i in range(2)
        ]
        cluster = Cluster(apps, admin_token(apps[0]), zeo.uri, directory)
        stack.callback(lambda: [app.stop() for app in cluster.extra])
        yield cluster


class TestZEO(ClusterSuite):
    """The shared multi-process suite on ZEO."""


def test_production_ini_serves_with_several_gunicorn_workers(zeo, cluster, tmp_path):
    with AppServer(tmp_path, zeo.uri, workers=2) as app:
        wait_for(
            lambda: app.process.log_tail(20000).count("Booting worker") >= 2,
            20,
            "two gunicorn workers",
        )
        client = app.client(token=cluster.token)
        user = unique("prod")
        assert client.post("/users", {"id": user}).status == 201
        # Fresh connections spread over both workers; each sees the write.
        for _ in range(10):
            fresh = app.client(token=cluster.token)
            assert fresh.get(f"/users/{user}", headers={"Connection": "close"}).status == 200
            fresh.close()
        client.close()


def test_a_lost_zeo_server_is_not_ready_then_503_then_recovers(tmp_path):
    """While ZEO is down: alive, not ready, writes 503 + Retry-After; then back by itself."""
    with ZEOServer(tmp_path / "zeo") as zeo:
        initialize_db(zeo.uri, tmp_path)
        # Two attempts, not ten: each waits wait_timeout for the missing server.
        with AppServer(tmp_path / "app", zeo.uri, settings={"retry.attempts": "2"}) as app:
            client = app.client(token=admin_token(app))
            assert client.post("/users", {"id": "before"}).status == 201

            zeo.kill9()
            anonymous = app.client()
            assert anonymous.get("/healthz").status == 200
            reply = anonymous.get("/readyz")
            assert reply.status == 503, reply
            assert reply.header("content-type").startswith("application/problem+json")
            assert reply.json == {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": "not ready",
            }
            reply = client.post("/users", {"id": "during"})
            assert reply.status == 503, reply
            assert reply.header("retry-after"), reply
            assert reply.header("content-type").startswith("application/problem+json")

            zeo.start()  # same port, same file
            started = time.monotonic()
            wait_for(lambda: anonymous.get("/readyz").status == 200, 30, "readyz after restart")
            print(f"ready again {time.monotonic() - started:.1f}s after ZEO restarted")
            assert client.post("/users", {"id": "after"}).status == 201
            assert client.get("/users/before").status == 200
            assert client.get("/users/during").status == 404
    verify_filestorage(zeo.data_fs)
