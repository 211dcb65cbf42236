"""Reads on a connection per thread, kept open between requests (``web/db.py``).

What must not change for a client: a read sees every write committed before
it, by the API or by another process's connection; a read commits nothing;
the membership check's hand-built body carries the ETag a PATCH's
``If-Match`` compares with; many threads reading at once each keep one
connection, and ZODB does not complain that its pool is over size.
"""

import logging
import threading

from webob import Request

from membership.domain.members import add_member, remove_member
from membership.web.db import database

from .conftest import script_context, with_root
from .helpers import basic


def test_a_read_sees_writes_committed_elsewhere_just_before_it(api, app):
    api.group("/groups/eng")
    api.user("alice")
    assert api.get("/groups/eng/members/alice").status_int == 404
    db = database(app.registry)

    def add(root):
        add_member(script_context(root, app.registry), root.groups["eng"], "alice")

    with_root(db, add)  # another connection, as another worker or a script would
    assert api.get("/groups/eng/members/alice").status_int == 200

    def remove(root):
        remove_member(script_context(root, app.registry), root.groups["eng"], "alice")

    with_root(db, remove)
    assert api.get("/groups/eng/members/alice").status_int == 404
    api.member("/groups/eng", "alice")  # and through the API, on a pooled connection
    assert api.get("/groups/eng/members/alice").status_int == 200


def test_reads_commit_nothing(api, app):
    api.group("/groups/eng")
    api.user("alice")
    api.member("/groups/eng", "alice")
    token = api.token()
    db = database(app.registry)
    before = db.lastTransaction()
    for _ in range(3):
        assert api.get("/groups/eng/members/alice").status_int == 200
        assert api.get("/groups/eng/members/admin").status_int == 404
        bearer = {"Authorization": f"Bearer {token}"}
        assert api.get("/groups/eng/members/alice", as_=None, headers=bearer).status_int == 200
        assert api.get("/groups/eng/members/alice", as_="alice").status_int == 200
        assert api.get("/groups/eng/members/alice", as_=None).status_int == 401
    assert db.lastTransaction() == before


def test_the_checks_etag_is_the_one_if_match_compares_with(api):
    api.group("/groups/eng")
    api.user("alice")
    api.member("/groups/eng", "alice")
    check = api.get("/groups/eng/members/alice")
    etag = check.headers["ETag"]
    again = api.get("/groups/eng/members/alice", headers={"If-None-Match": etag})
    assert again.status_int == 304
    changed = api.patch(
        "/groups/eng/members/alice", {"role": "manager"}, headers={"If-Match": etag}
    )
    assert changed.status_int == 200
    stale = api.patch("/groups/eng/members/alice", {"role": "member"}, headers={"If-Match": etag})
    assert stale.status_int == 412
    assert api.get("/groups/eng/members/alice").json["role"] == "manager"


def test_many_threads_reading_keep_one_connection_each(api, app, caplog):
    api.group("/groups/eng")
    api.user("alice")
    api.member("/groups/eng", "alice")
    db = database(app.registry)
    environ = Request.blank("/groups/eng/members/alice", headers=basic("admin")).environ
    statuses: list[int] = []
    threads = 12  # more than ZODB's default pool_size of 7
    barrier = threading.Barrier(threads)

    def read() -> None:
        barrier.wait()
        for _ in range(5):
            statuses.append(Request(dict(environ)).get_response(app).status_int)

    with caplog.at_level(logging.WARNING, logger="ZODB.DB"):
        workers = [threading.Thread(target=read) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert statuses == [200] * (threads * 5)
    assert not [r for r in caplog.records if "open connections" in r.getMessage()]
    opened = [info for info in db.connectionDebugInfo() if info["opened"]]
    assert len(opened) <= threads + 1  # a read connection per thread, this thread's too
    api.user("bob")
    api.member("/groups/eng", "bob")  # writes still get a pooled connection and commit
    assert api.get("/groups/eng/members/bob").status_int == 200
