"""Webhook pages: list, create (secret once), the delivery log, pause, resume, a new
secret, delete; the API's permissions on both sides (the admin, an owner, a manager and
a stranger); refusals shown by the field at fault.

Deliveries are made by a dispatcher run by hand on the app's database, to a receiver
on 127.0.0.1 (hence ``allow_private``).
"""

import html

import pytest

from membership.dispatch import Config, Dispatcher
from membership.web.db import database

from ..unit.test_webhooks import Receiver
from .test_ui import Browser, text

pytestmark = pytest.mark.no_spec_check


@pytest.fixture
def settings(settings):
    return {
        **settings,
        "membership.ui.insecure_cookies": "true",
        "membership.webhooks.allow_private": "true",
    }


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def people(api):
    """dave owns eng, alice manages it, carol is in no group."""
    for userid in ("alice", "carol", "dave"):
        api.user(userid)
    api.group("/groups/eng")
    api.member("/groups/eng", "dave", "owner")
    api.member("/groups/eng", "alice", "manager")
    return api


def deliver(app) -> None:
    Dispatcher(database(app.registry), Config(allow_private=True), name="test").run_once()


def words(res) -> str:
    return html.unescape(text(res))


def field_error(res, field: str) -> str | None:
    found = res.html.select_one(f"#new-webhook-{field}-error")
    return found.get_text() if found is not None else None


def create(browser: Browser, status=201, **fields):
    values = {"url": "", "path": "/", "types": "", "description": "", **fields}
    return browser.submit("/ui/webhooks", "create", values, status=status)


def test_an_admin_subscribes_sees_deliveries_pauses_resumes_and_deletes(app, people, receiver):
    admin = Browser(app, "admin")
    res = create(admin, url=receiver.url, types="group.*", description="cache")
    secret = res.html.select_one("#new-webhook-secret")["value"]
    assert secret.startswith("whsec_")
    (hook,) = people.get("/webhooks").json["items"]
    assert hook["types"] == ["group.*"] and hook["path"] == "/" and hook["owner"] == "admin"
    assert "secret" not in hook
    page = f"/ui/webhooks/{hook['id']}"
    assert secret not in admin.get("/ui/webhooks").text  # shown once
    assert secret not in admin.get(page).text

    people.group("/groups/ops")
    deliver(app)
    res = admin.get(page)
    log = res.html.select("#deliveries tbody tr")
    assert len(log) == 1 and "group.created" in log[0].get_text() and "200" in log[0].get_text()

    res = admin.submit(page, "pause", {}).follow()
    assert "Paused." in words(res)
    assert people.get(f"/webhooks/{hook['id']}").json["active"] is False
    res = admin.submit(page, "resume", {}).follow()
    assert "Resumed" in words(res)
    assert people.get(f"/webhooks/{hook['id']}").json["active"] is True

    res = admin.submit(page, "rotate-secret", {}, status=200)
    new = res.html.select_one("#webhook-secret")["value"]
    assert new.startswith("whsec_") and new != secret

    res = admin.submit(page, "delete", {}).follow()
    assert f"Subscription to {receiver.url} deleted." in words(res)
    people.get(f"/webhooks/{hook['id']}", status=404)
    actions = [e["action"] for e in people.get("/history?action=webhook").json["items"]]
    assert actions == [
        "webhook.deleted",
        "webhook.changed",
        "webhook.changed",
        "webhook.changed",
        "webhook.created",
    ]


@pytest.mark.parametrize(
    ("fields", "field", "status", "message"),
    [
        ({"url": "ftp://x/"}, "url", 422, "http"),
        ({"url": "http://127.0.0.1:9/", "types": "group.* Membership!"}, "types", 422, ""),
        ({"url": "http://127.0.0.1:9/", "path": "/groups/nowhere"}, "path", 422, "nothing at"),
    ],
)
def test_refusals_are_shown_by_the_field(app, people, fields, field, status, message):
    admin = Browser(app, "admin")
    res = create(admin, status=status, **fields)
    error = field_error(res, field)
    assert error is not None and message in error, res.text
    assert res.html.select_one(f"#new-webhook-{field}")["aria-invalid"] == "true"
    assert people.get("/webhooks").json["items"] == []


def test_an_owner_subscribes_to_their_subtree_and_sees_only_their_own(app, people, receiver):
    admin, dave = Browser(app, "admin"), Browser(app, "dave")
    create(admin, url=receiver.url)
    create(dave, url=receiver.url, path="/groups/eng", description="dave's")
    mine = dave.get("/ui/webhooks").html.select("#subscriptions tbody tr")
    assert len(mine) == 1 and "dave's" in mine[0].get_text()
    everyone = admin.get("/ui/webhooks").html.select("#subscriptions tbody tr")
    assert len(everyone) == 2
    # the same rule as the API: dave may not follow everything
    res = create(dave, status=403, url=receiver.url, path="/")
    assert "view-history" in field_error(res, "path")
    assert people.post("/webhooks", {"url": receiver.url}, as_="dave").status_int == 403


@pytest.mark.parametrize("userid", ["alice", "carol"])
def test_a_manager_or_a_stranger_cannot_subscribe_to_the_group(app, people, receiver, userid):
    browser = Browser(app, userid)
    res = create(browser, status=403, url=receiver.url, path="/groups/eng")
    assert "needs view-history there" in field_error(res, "path")
    body = {"url": receiver.url, "path": "/groups/eng"}
    assert people.post("/webhooks", body, as_=userid).status_int == 403
    assert people.get("/webhooks").json["items"] == []


@pytest.mark.parametrize("userid", ["alice", "carol", "dave"])
def test_nobody_but_its_owner_and_the_admins_sees_or_changes_a_subscription(
    app, people, receiver, userid
):
    create(Browser(app, "admin"), url=receiver.url)
    (hook,) = people.get("/webhooks").json["items"]
    page = f"/ui/webhooks/{hook['id']}"
    browser = Browser(app, userid)
    assert browser.get("/ui/webhooks").html.select("#subscriptions tbody tr") == []
    assert receiver.url not in browser.get("/ui/webhooks").text
    browser.get(page, status=403)
    token = browser.token()
    for action in ("pause", "rotate-secret", "delete"):
        browser.app.post(f"{page}/{action}", {"csrf_token": token}, status=403)
    # the API agrees, and nothing changed
    assert people.get(f"/webhooks/{hook['id']}", as_=userid).status_int == 403
    assert people.get(f"/webhooks/{hook['id']}").json["active"] is True


def test_without_a_csrf_token_nothing_is_changed(app, people, receiver):
    admin = Browser(app, "admin")
    create(admin, url=receiver.url)
    (hook,) = people.get("/webhooks").json["items"]
    admin.app.post(f"/ui/webhooks/{hook['id']}/delete", {}, status=400)
    people.get(f"/webhooks/{hook['id']}", status=200)


def test_the_webhooks_page_is_linked_from_the_menu_and_the_history(app, people):
    dave = Browser(app, "dave")
    res = dave.get("/ui/groups/eng/history")
    assert res.html.find("a", string="Webhooks")["href"] == "/ui/webhooks"
    link = res.html.find("a", string="Send these changes to a webhook")["href"]
    assert link == "/ui/webhooks?path=%2Fgroups%2Feng"
    assert dave.get(link).html.select_one("#new-webhook-path")["value"] == "/groups/eng"
