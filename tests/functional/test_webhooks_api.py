"""``/webhooks`` over HTTP: create (secret once), list, read, change, replay, test,
rotate, deliveries, delete; who may do what; the URL rules (422).

Deliveries are made by a dispatcher run by hand (``run_once``) on the app's
database, to a receiver on 127.0.0.1 (hence ``allow_private``).
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from membership.dispatch import Config, Dispatcher
from membership.web.db import database

from ..unit.test_webhooks import Receiver


@pytest.fixture
def settings(settings):
    return {**settings, "membership.webhooks.allow_private": "true"}


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def deliver(app) -> None:
    Dispatcher(database(app.registry), Config(allow_private=True), name="test").run_once()


def test_the_life_of_a_subscription(app, api, receiver):
    res = api.post(
        "/webhooks",
        {"url": receiver.url, "types": ["group.*"], "description": "cache"},
        status=201,
    )
    hook = res.json
    secret = hook.pop("secret")
    assert secret.startswith("whsec_")
    assert (
        res.headers["Location"]
        == hook["links"]["self"]
        == f"http://localhost/webhooks/{hook['id']}"
    )
    assert hook["path"] == "/" and hook["active"] and hook["owner"] == "admin"
    read = api.get(f"/webhooks/{hook['id']}", status=200).json
    assert "secret" not in read and read["cursor"] == hook["cursor"]
    assert [h["id"] for h in api.get("/webhooks", status=200).json["items"]] == [hook["id"]]

    api.group("/groups/eng")
    api.group("/groups/ops")
    deliver(app)
    assert [m["data"]["target"] for m in receiver.messages()] == ["/groups/eng", "/groups/ops"]
    for headers, body in receiver.calls:
        Webhook(secret).verify(body, headers)
    after = api.get(f"/webhooks/{hook['id']}").json
    assert after["cursor"] == receiver.ids()[-1] and after["attempts"] == 0
    deliveries = api.get(f"/webhooks/{hook['id']}/deliveries", status=200).json["items"]
    assert [d["event"] for d in deliveries] == receiver.ids()[::-1]  # newest first
    assert all(d["status"] == 200 and d["latency_ms"] >= 0 for d in deliveries)

    # replay from the first change, paused meanwhile
    first = receiver.ids()[0]
    api.patch(f"/webhooks/{hook['id']}", {"cursor": first, "active": False}, status=200)
    api.group("/groups/qa")
    deliver(app)
    assert len(receiver.calls) == 2
    changed = api.patch(f"/webhooks/{hook['id']}", {"active": True}, status=200).json
    assert changed["active"] and changed["cursor"] == first
    deliver(app)
    assert [m["data"]["target"] for m in receiver.messages()[2:]] == ["/groups/ops", "/groups/qa"]

    # a test message, signed with the current secret; the cursor stays
    test = api.post(f"/webhooks/{hook['id']}/test", None, status=200).json
    assert test["ok"] and test["status"] == 200 and test["id"].startswith("test_")
    headers, body = receiver.calls[-1]
    assert Webhook(secret).verify(body, headers)["type"] == "webhook.test"

    # rotate: the new secret shown once, both sign for a day
    rotated = api.post(f"/webhooks/{hook['id']}/rotate-secret", None, status=200).json
    assert rotated["secret"] != secret
    api.post(f"/webhooks/{hook['id']}/test", None, status=200)
    headers, body = receiver.calls[-1]
    Webhook(secret).verify(body, headers)
    Webhook(rotated["secret"]).verify(body, headers)
    assert "secret" not in api.get(f"/webhooks/{hook['id']}").json

    api.delete(f"/webhooks/{hook['id']}", status=204)
    api.get(f"/webhooks/{hook['id']}", status=404)
    assert api.get("/webhooks").json["items"] == []
    actions = [e["action"] for e in api.get("/history?action=webhook").json["items"]]
    assert actions == [
        "webhook.deleted",
        "webhook.changed",
        "webhook.changed",
        "webhook.changed",
        "webhook.created",
    ]


def test_who_may_subscribe_see_and_change(api, receiver):
    api.user("olga")
    api.user("nina")
    api.group("/groups/eng")
    api.member("/groups/eng", "olga", "owner")
    api.member("/groups/eng", "nina", "member")
    body = {"url": receiver.url, "path": "/groups/eng"}
    assert api.post("/webhooks", body, as_=None).status_int == 401
    assert api.post("/webhooks", {"url": receiver.url}, as_="olga").status_int == 403
    assert api.post("/webhooks", body, as_="nina").status_int == 403
    missing = api.post("/webhooks", {**body, "path": "/groups/nope"}, as_="olga")
    assert missing.status_int == 422 and missing.json["errors"][0]["field"] == "path"
    olgas = api.post("/webhooks", body, as_="olga", status=201).json
    admins = api.post("/webhooks", {"url": receiver.url}, status=201).json
    assert [h["id"] for h in api.get("/webhooks", as_="olga").json["items"]] == [olgas["id"]]
    assert api.get("/webhooks", as_="nina").json["items"] == []
    assert {h["id"] for h in api.get("/webhooks").json["items"]} == {olgas["id"], admins["id"]}
    for method, suffix in [("GET", ""), ("GET", "/deliveries"), ("DELETE", "")]:
        assert api.request(method, f"/webhooks/{olgas['id']}{suffix}", as_="nina").status_int == 403
        assert (
            api.request(method, f"/webhooks/{admins['id']}{suffix}", as_="olga").status_int == 403
        )
    assert api.post(f"/webhooks/{admins['id']}/rotate-secret", None, as_="olga").status_int == 403
    assert api.patch(f"/webhooks/{admins['id']}", {"active": False}, as_="olga").status_int == 403
    api.patch(f"/webhooks/{olgas['id']}", {"types": ["membership.*"]}, as_="olga", status=200)
    api.get(f"/webhooks/{olgas['id']}", status=200)  # admins see everything
    assert api.get(f"/webhooks/{olgas['id']}", as_=None).status_int == 401


@pytest.fixture
def strict_app(settings):
    import membership
    from membership.scripts.initialize import ensure_admin

    from .conftest import script_context, with_root
    from .helpers import ADMIN, PASSWORD

    wsgi = membership.main({}, **{**settings, "membership.webhooks.allow_private": "false"})
    db = database(wsgi.registry)
    with_root(db, lambda root: ensure_admin(script_context(root, wsgi.registry), ADMIN, PASSWORD))
    yield wsgi
    db.close()


def test_private_urls_are_refused_unless_allowed(strict_app, receiver):
    from webtest import TestApp

    from .helpers import Api

    api = Api(TestApp(strict_app))
    res = api.post("/webhooks", {"url": receiver.url})
    assert res.status_int == 422 and "private" in res.json["errors"][0]["message"]
    for url in ("http://10.0.0.8/x", "http://169.254.169.254/", "http://[::1]/", "ftp://x/"):
        res = api.post("/webhooks", {"url": url})
        assert res.status_int == 422, url
        assert res.json["errors"][0]["field"] == "url"


def test_bad_input_is_named(api, receiver):
    res = api.post("/webhooks", {"url": receiver.url, "types": ["Membership!"]})
    assert res.status_int == 422 and res.json["errors"][0]["field"].startswith("types")
    hook = api.post("/webhooks", {"url": receiver.url}, status=201).json
    res = api.patch(f"/webhooks/{hook['id']}", {"cursor": "yesterday"})
    assert res.status_int == 422 and res.json["errors"][0]["field"] == "cursor"
    res = api.patch(f"/webhooks/{hook['id']}", {"cursor": "now"}, status=200)
    assert res.json["cursor"] >= hook["cursor"]
    assert api.get("/webhooks/0123456789abcdef").status_int == 404


def checked_out(db) -> int:
    """ZODB connections of ``db`` in use (opened and not back in the pool)."""
    return sum(1 for conn in db.pool.all if conn.opened is not None)


def test_the_test_message_is_sent_with_no_zodb_connection_held(app, api):
    """The receiver may take up to the timeout to answer: meanwhile the request that
    asked for the test holds no connection (and so no transaction) of the database."""
    db = database(app.registry)
    seen: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(checked_out(db))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        hook = api.post("/webhooks", {"url": url}, status=201).json
        res = api.post(f"/webhooks/{hook['id']}/test", None, status=200)
        assert res.content_type == "application/json"
        assert res.json["ok"] is True and res.json["status"] == 204
        assert seen == [0]
        # a receiver that is not there: still a 200 saying what happened
        api.patch(f"/webhooks/{hook['id']}", {"url": "http://127.0.0.1:9/gone"}, status=200)
        failed = api.post(f"/webhooks/{hook['id']}/test", None, status=200).json
        assert failed["ok"] is False and failed["status"] is None and failed["error"]
    finally:
        server.shutdown()
        server.server_close()
