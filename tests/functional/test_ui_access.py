"""The UI never shows or does what the API would refuse the same person, and the other
way round: a manager, a member and a stranger, each read and each write, on both sides.

Each write goes through the API first; when the API allowed it, the UI tries
it on a fresh tree (a refusal changes nothing, so then the same tree serves).
"""

import pytest
from webtest import TestApp

import membership
from membership.scripts.initialize import ensure_admin
from membership.web.db import database

from .conftest import TEST_SETTINGS, script_context, with_root
from .helpers import ADMIN, PASSWORD, Api
from .test_ui import Browser

pytestmark = pytest.mark.no_spec_check

SETTINGS = {**TEST_SETTINGS, "membership.ui.insecure_cookies": "true"}
#: alice manages eng; bob is a member of eng/backend; carol is in no group.
PEOPLE = {"manager": "alice", "member": "bob", "stranger": "carol"}


@pytest.fixture
def trees():
    """A factory of fresh populated apps, closed at the end."""
    made = []

    def make():
        wsgi = membership.main({}, **SETTINGS)
        db = database(wsgi.registry)
        with_root(
            db, lambda root: ensure_admin(script_context(root, wsgi.registry), ADMIN, PASSWORD)
        )
        api = Api(TestApp(wsgi))
        for userid in ("alice", "bob", "carol", "dave"):
            api.user(userid)
        api.group("/groups/eng")
        api.group("/groups/eng/groups/backend")
        api.group("/groups/ops")
        api.member("/groups/eng", "alice", "manager")
        api.member("/groups/eng/groups/backend", "bob")
        made.append(db)
        return wsgi, api

    yield make
    for db in made:
        db.close()


READS = [
    ("/ui/groups/eng", "/groups/eng"),
    ("/ui/groups/eng/groups/backend", "/groups/eng/groups/backend"),
    ("/ui/groups/eng?view=effective", "/groups/eng/members?effective=true"),
    ("/ui/groups/eng/access", "/groups/eng/acl"),
    ("/ui/groups/eng/history", "/groups/eng/history"),
    ("/ui/groups/ops", "/groups/ops"),
    ("/ui/users", "/users"),
    ("/ui/users/bob", "/users/bob"),
    ("/ui/users/bob/access", "/users/bob/acl"),
    ("/ui/users/bob/history", "/users/bob/history"),
    ("/ui/access", "/acl"),
    ("/ui/history", "/history"),
    ("/ui/webhooks", "/webhooks"),
]


@pytest.mark.parametrize("who", PEOPLE)
def test_reads_answer_alike(trees, who):
    wsgi, api = trees()
    userid = PEOPLE[who]
    browser = Browser(wsgi, userid)
    for ui_path, api_path in READS:
        api_status = api.get(api_path, as_=userid).status_int
        ui_status = browser.get(ui_path, status="*").status_int
        assert (ui_status, api_status) in ((200, 200), (403, 403)), (who, ui_path, api_path)


AUTHENTICATED_VIEW = {
    "action": "Allow",
    "principal": "system.Authenticated",
    "permissions": ["view"],
}

#: ``(UI node, UI action, form fields, API method, API path, API body)``
WRITES = {
    "add member": (
        "/ui/groups/eng/groups/backend",
        "add-member",
        {"user": "dave", "role": "member"},
        "POST",
        "/groups/eng/groups/backend/members",
        {"user": "dave"},
    ),
    "add owner": (
        "/ui/groups/eng",
        "add-member",
        {"user": "dave", "role": "owner"},
        "POST",
        "/groups/eng/members",
        {"user": "dave", "role": "owner"},
    ),
    "change role": (
        "/ui/groups/eng/groups/backend",
        "change-member",
        {"user": "bob", "role": "manager"},
        "PATCH",
        "/groups/eng/groups/backend/members/bob",
        {"role": "manager"},
    ),
    "remove member": (
        "/ui/groups/eng/groups/backend",
        "remove-member",
        {"user": "bob"},
        "DELETE",
        "/groups/eng/groups/backend/members/bob",
        None,
    ),
    "bulk add": (
        "/ui/groups/eng",
        "bulk-add",
        {"ids": "dave", "role": "member"},
        "PATCH",
        "/groups/eng/members",
        [{"op": "add", "user": "dave"}],
    ),
    "edit group": (
        "/ui/groups/eng",
        "edit",
        {"title": "Eng", "description": ""},
        "PATCH",
        "/groups/eng",
        {"title": "Eng", "description": ""},
    ),
    "new subgroup": (
        "/ui/groups/eng",
        "new-subgroup",
        {"name": "web", "title": "", "description": ""},
        "POST",
        "/groups/eng/groups",
        {"name": "web"},
    ),
    "move group": (
        "/ui/groups/eng/groups/backend",
        "move",
        {"to": "/groups/ops"},
        "POST",
        "/groups/eng/groups/backend/move",
        {"to": "/groups/ops"},
    ),
    "delete group": (
        "/ui/groups/eng/groups/backend",
        "delete",
        {"confirm": "backend"},
        "DELETE",
        "/groups/eng/groups/backend",
        None,
    ),
    "acl entry": (
        "/ui/groups/eng",
        "acl-add",
        {"action": "Allow", "principal": "system.Authenticated", "permissions": "view"},
        "PATCH",
        "/groups/eng/acl",
        {
            "add": [
                {"action": "Allow", "principal": "system.Authenticated", "permissions": ["view"]}
            ]
        },
    ),
    "new token": (
        "/ui/users/bob",
        "new-token",
        {"name": "cli", "expires_at": ""},
        "POST",
        "/users/bob/tokens",
        {"name": "cli"},
    ),
    "edit user": (
        "/ui/users/bob",
        "edit",
        {"display_name": "Robert", "email": ""},
        "PATCH",
        "/users/bob",
        {"display_name": "Robert"},
    ),
    "new group": (
        "/ui/",
        "new-group",
        {"name": "web", "title": "", "description": ""},
        "POST",
        "/groups",
        {"name": "web"},
    ),
    "new user": (
        "/ui/",
        "new-user",
        {"id": "erin", "display_name": "", "email": "", "password": ""},
        "POST",
        "/users",
        {"id": "erin"},
    ),
}


def ui_post(browser: Browser, page: str, action: str, fields: dict) -> int:
    """POST ``<node>/<action>`` as its form would, with the session's CSRF token (from the
    tree page, which everyone logged in may open: the node's own page may be refused)."""
    token = browser.token("/ui/")
    base = page.rstrip("/") if page != "/ui/" else "/ui"
    res = browser.app.post(
        f"{base}/{action}", {**fields, "csrf_token": token}, status="*", expect_errors=True
    )
    return res.status_int


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("case", WRITES)
def test_writes_are_allowed_and_refused_alike(trees, who, case):
    page, action, fields, method, path, body = WRITES[case]
    userid = PEOPLE[who]
    wsgi, api = trees()
    api_status = api.request(method, path, body, as_=userid).status_int
    api_ok = 200 <= api_status < 300
    if api_ok:  # a refusal changes nothing, so the same tree serves the UI then
        wsgi, _ = trees()
    ui_status = ui_post(Browser(wsgi, userid), page, action, fields)
    ui_ok = ui_status in (201, 303)
    assert ui_ok == api_ok, (who, case, ui_status, api_status)
    if not api_ok:
        assert ui_status == api_status, (who, case, ui_status, api_status)


def forms_on(browser: Browser, path: str) -> set[str]:
    page = browser.get(path)
    return {f.action.rsplit("/", 1)[-1] for f in page.forms.values() if f.method.upper() == "POST"}


def test_a_manager_sees_member_forms_but_no_acl_editing(trees):
    wsgi, _ = trees()
    alice = Browser(wsgi, "alice")
    forms = forms_on(alice, "/ui/groups/eng")
    assert {"add-member", "change-member", "remove-member", "bulk-add", "new-subgroup"} <= forms
    assert not forms & {"edit", "move", "delete"}
    assert "owner" not in alice.form("/ui/groups/eng", "add-member")["role"].options[-1][0]
    access = alice.get("/ui/groups/eng/access")
    assert "acl-add" not in access.text and "acl-remove" not in access.text
    assert "changing them needs the manage-acl permission here" in access.text
    assert "/groups/eng/history" not in alice.get("/ui/groups/eng").text  # no view-history


def test_a_member_sees_the_group_but_no_forms(trees):
    wsgi, _ = trees()
    bob = Browser(wsgi, "bob")
    assert forms_on(bob, "/ui/groups/eng/groups/backend") == {"logout"}
    assert forms_on(bob, "/ui/groups/eng") == {"logout"}
    nav = bob.get("/ui/").text.split("</nav>")[0]
    assert "/ui/users" not in nav and "/ui/history" not in nav


def test_a_stranger_sees_nothing_of_the_group(trees):
    wsgi, _ = trees()
    carol = Browser(wsgi, "carol")
    res = carol.get("/ui/groups/eng", status=403)
    assert "This needs the view permission here, which you do not hold." in res.text
    assert "/groups/eng" not in carol.get("/ui/").text
    assert "eng" not in carol.get("/ui/?q=e").text.split("Results")[1]
    assert carol.get("/ui/groups/eng/suggest-users?user=a", status=403)


def test_owners_see_the_owner_role_and_acl_editing(trees):
    wsgi, api = trees()
    api.member("/groups/eng", "carol", "owner")
    carol = Browser(wsgi, "carol")
    forms = forms_on(carol, "/ui/groups/eng")
    assert {"edit", "move", "delete", "add-member"} <= forms
    roles = [value for value, *_ in carol.form("/ui/groups/eng", "add-member")["role"].options]
    assert roles == ["member", "manager", "owner"]
    assert "acl-add" in forms_on(carol, "/ui/groups/eng/access")
