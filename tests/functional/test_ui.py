"""The admin UI under /ui/ with WebTest: login, sessions, CSRF, pages and forms.

Every form is used the way a browser without JavaScript uses it (WebTest
fills and submits the real form), so the no-JS path is what most of these
tests exercise; htmx requests are the same requests with ``HX-Request``.
The pages are HTML, not part of the OpenAPI document: no spec check here.
"""

import hashlib
import re
from pathlib import Path

import pytest
from webtest import TestApp

import membership
from membership.web.db import database

from .helpers import ADMIN, PASSWORD

pytestmark = pytest.mark.no_spec_check

STATIC = Path(membership.__file__).parent / "ui" / "static"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
CSP = "default-src 'self'; frame-ancestors 'none'"


@pytest.fixture
def settings(settings):
    # WebTest speaks http: a Secure cookie would never come back (see test_cookie_flags).
    return {**settings, "membership.ui.insecure_cookies": "true"}


class Browser:
    """One person's WebTest session (its own cookie jar) on the UI."""

    def __init__(self, app, userid: str | None = None, password: str = PASSWORD) -> None:
        self.app = TestApp(app)
        self.userid = userid
        if userid is not None:
            self.login(userid, password)

    def login(self, userid: str, password: str = PASSWORD, status=303):
        form = self.app.get("/ui/login").forms[0]
        form["user"] = userid
        form["password"] = password
        return form.submit(status=status)

    def get(self, path: str, status=200, **kw):
        return self.app.get(path, status=status, **kw)

    def form(self, path: str, action: str, index: int = 0):
        """The form on the page at ``path`` that posts to ``…/action``."""
        page = self.get(path)
        forms = [f for f in page.forms.values() if f.action.endswith("/" + action)]
        assert forms, f"no form for {action} on {path}"
        return forms[index]

    def submit(self, path: str, action: str, fields: dict, status=303, index: int = 0):
        form = self.form(path, action, index)
        for name, value in fields.items():
            form[name] = value
        return form.submit(status=status)

    def token(self, path: str = "/ui/") -> str:
        return self.get(path).forms[0]["csrf_token"].value


def text(res) -> str:
    """The page's words, tags stripped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", res.text))


@pytest.fixture
def people(api):
    """alice manages eng, bob is a member of eng/backend (until 2030), carol is nobody."""
    for userid in ("alice", "bob", "carol"):
        api.user(userid, display_name=userid.title())
    api.group("/groups/eng", title="Engineering")
    api.group("/groups/eng/groups/backend", title="Backend")
    api.member("/groups/eng", "alice", "manager")
    api.member("/groups/eng/groups/backend", "bob", expires_at="2030-01-01T00:00:00Z")
    return api


@pytest.fixture
def admin(app):
    return Browser(app, ADMIN)


# --- no session: redirects, never a Basic challenge ---------------------------------


@pytest.mark.parametrize(
    "path", ["/ui/", "/ui/groups/eng", "/ui/groups/nowhere", "/ui/users/admin/access"]
)
def test_visitors_without_a_session_are_sent_to_the_login_page(testapp, path):
    res = testapp.get(path, status=303)
    assert res.location.startswith("http://localhost/ui/login?came_from=")
    assert "WWW-Authenticate" not in res.headers


def test_nothing_under_ui_answers_with_a_basic_challenge(testapp):
    for method, path in [
        ("GET", "/ui"),
        ("GET", "/ui/login"),
        ("GET", "/ui/static/nothing.js"),
        ("POST", "/ui/groups/admins/add-member"),
        ("GET", "/ui/groups/admins/members/admin"),
    ]:
        res = testapp.request(path, method=method, expect_errors=True)
        assert "WWW-Authenticate" not in res.headers, (method, path)
        assert res.content_type != "application/problem+json", (method, path)
    # the API keeps its challenge
    assert "WWW-Authenticate" in testapp.get("/groups", status=401).headers


def test_basic_credentials_do_not_open_the_ui(testapp, api):
    res = testapp.get("/ui/", headers=api_headers(), status=303)
    assert "/ui/login" in res.location


def api_headers():
    from .helpers import basic

    return basic(ADMIN)


def test_htmx_requests_without_a_session_are_redirected_as_a_whole_page(testapp):
    res = testapp.get("/ui/groups/admins", headers={"HX-Request": "true"}, status=200)
    assert res.headers["HX-Redirect"] == "/ui/login"


def test_bare_ui_redirects_to_the_tree(testapp):
    assert testapp.get("/ui", status=301).location.endswith("/ui/")


# --- login, cookie, logout, throttle --------------------------------------------


def test_login_form_has_labelled_user_and_password_fields(testapp):
    page = testapp.get("/ui/login")
    form = page.forms[0]
    assert {"user", "password", "csrf_token"} <= set(form.fields)
    assert '<label for="login-user">' in page.text and 'id="login-user"' in page.text
    assert '<label for="login-password">' in page.text
    assert page.headers["Content-Security-Policy"] == CSP
    assert page.text.count("<h1") == 1 and "<title>Log in · membership</title>" in page.text


def test_login_sets_a_strict_http_only_session_cookie(app):
    browser = Browser(app)
    res = browser.login(ADMIN)
    cookie = res.headers["Set-Cookie"]
    assert cookie.startswith("membership_ui=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    assert res.location == "http://localhost/ui/"
    assert "Logged in as" in browser.get("/ui/").text


def test_cookie_is_secure_unless_insecure_cookies_is_set(settings):
    settings = {**settings}
    del settings["membership.ui.insecure_cookies"]
    wsgi = membership.main({}, **settings)
    try:
        res = TestApp(wsgi).get("/ui/login")
        assert "; secure" in res.headers["Set-Cookie"].lower()
    finally:
        database(wsgi.registry).close()


def test_login_goes_back_to_the_page_asked_for_but_never_elsewhere(app, people):
    browser = Browser(app)
    page = browser.get("/ui/groups/eng", status=303).follow()
    form = page.forms[0]
    form["user"], form["password"] = ADMIN, PASSWORD
    assert form.submit(status=303).location == "http://localhost/ui/groups/eng"
    browser = Browser(app)
    form = browser.get("/ui/login?came_from=https://evil.example/ui/").forms[0]
    form["user"], form["password"] = ADMIN, PASSWORD
    assert form.submit(status=303).location == "http://localhost/ui/"


def test_a_wrong_password_is_refused_in_words(app):
    browser = Browser(app)
    res = browser.login(ADMIN, "wrong password", status=403)
    assert "Unknown user or wrong password." in res.text
    assert "WWW-Authenticate" not in res.headers
    assert browser.get("/ui/", status=303)


def test_failed_logins_count_in_the_same_throttle_as_basic(app):
    browser = Browser(app)
    for _ in range(10):  # membership.throttle.per_user
        browser.login(ADMIN, "wrong password", status=403)
    res = browser.login(ADMIN, PASSWORD, status=429)
    assert "too many failed logins" in res.text and int(res.headers["Retry-After"]) > 0
    # the same lock holds for Basic: the throttle is one
    api = TestApp(app)
    api.extra_environ = {"REMOTE_ADDR": "192.0.2.1"}
    assert api.get("/users", headers=api_headers(), status=429)


def test_logout_ends_the_session(app):
    browser = Browser(app, ADMIN)
    page = browser.get("/ui/")
    logout = next(f for f in page.forms.values() if f.action.endswith("/logout"))
    res = logout.submit(status=303).follow()
    assert "You have logged out." in res.text
    assert browser.get("/ui/", status=303).location.startswith("http://localhost/ui/login")


def test_a_password_change_elsewhere_ends_the_session(app, people):
    bob = Browser(app, "bob")
    people.patch("/users/bob", {"password": "a-new-password"}, status=200)
    assert bob.get("/ui/", status=303)


def test_the_api_never_sets_or_reads_the_session_cookie(app, api):
    browser = Browser(app, ADMIN)
    cookie = browser.app.cookies["membership_ui"]
    client = TestApp(app)
    res = client.get("/groups", headers={"Cookie": f"membership_ui={cookie}"}, status=401)
    assert "Set-Cookie" not in res.headers
    assert "Set-Cookie" not in api.get("/groups", status=200).headers


def test_the_session_secret_setting_signs_cookies_across_processes(settings):
    settings = {**settings, "membership.ui.session_secret": "s" * 40}
    apps = [membership.main({}, **settings) for _ in range(2)]
    try:
        first = TestApp(apps[0])
        token = first.get("/ui/login").forms[0]["csrf_token"].value
        second = TestApp(apps[1])
        second.set_cookie("membership_ui", first.cookies["membership_ui"])
        assert second.get("/ui/login").forms[0]["csrf_token"].value == token
    finally:
        for each in apps:
            database(each.registry).close()


# --- CSRF -------------------------------------------------------------------------


def test_unsafe_requests_need_the_csrf_token(app, people, admin):
    form = admin.form("/ui/groups/eng", "add-member")
    form["user"] = "carol"
    form["csrf_token"] = "forged"
    res = form.submit(status=400)
    assert "Form expired" in res.text and res.headers["Content-Security-Policy"] == CSP
    res = admin.app.post("/ui/groups/eng/add-member", {"user": "carol"}, status=400)
    assert "security token" in res.text
    assert people.get("/groups/eng/members/carol").status_int == 404
    # with the token from the session (form field or htmx's header) it works
    token = admin.token()
    admin.app.post("/ui/groups/eng/add-member", {"user": "carol", "csrf_token": token}, status=303)
    headers = {"X-CSRF-Token": token, "HX-Request": "true"}
    admin.app.post("/ui/groups/eng/remove-member", {"user": "carol"}, headers=headers, status=303)


def test_logging_in_needs_the_csrf_token_too(testapp):
    testapp.post("/ui/login", {"user": ADMIN, "password": PASSWORD}, status=400)


# --- pages ----------------------------------------------------------------------------


def test_every_page_has_a_title_one_h1_labels_and_the_csp(app, people, admin):
    for path in [
        "/ui/",
        "/ui/?q=a",
        "/ui/users",
        "/ui/users/bob",
        "/ui/groups/eng",
        "/ui/groups/eng?view=effective",
        "/ui/groups/eng/groups/backend",
        "/ui/groups/eng/access",
        "/ui/groups/eng/history",
        "/ui/access",
        "/ui/history",
        "/ui/users/bob/access",
        "/ui/users/bob/history",
    ]:
        page = admin.get(path)
        assert page.headers["Content-Security-Policy"] == CSP, path
        assert page.headers["Cache-Control"] == "no-store", path
        assert page.text.count("<h1") == 1, path
        assert re.search(r"<title>[^<]+ · membership</title>", page.text), path
        for input_id in re.findall(r'<(?:input|select|textarea) id="([^"]+)"', page.text):
            assert f'for="{input_id}"' in page.text, (path, input_id)
        for src in re.findall(r'(?:src|href)="([^"#]+)"', page.text):
            assert src.startswith("/"), (path, src)  # nothing from elsewhere


def test_vendored_htmx_is_the_pinned_file(testapp):
    data = (STATIC / "htmx.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX_SHA256
    assert "2.0.11" in (STATIC / "VENDORED.md").read_text()
    res = testapp.get("/ui/static/htmx.min.js")
    assert res.body == data


def test_the_tree_shows_groups_subgroups_and_counts(people, admin):
    page = text(admin.get("/ui/"))
    assert "Engineering /groups/eng 1 member" in page
    assert "Backend /groups/eng/groups/backend 1 member" in page


def test_a_member_sees_their_groups_in_the_tree(app, people):
    page = text(Browser(app, "bob").get("/ui/"))
    assert "Your groups" in page and "/groups/eng/groups/backend" in page
    assert "/groups/admins" not in page


def test_search_finds_users_and_groups_by_prefix(people, admin):
    page = text(admin.get("/ui/?q=b"))
    assert "Backend /groups/eng/groups/backend" in page and "bob" in page
    assert "Engineering /groups" not in page.split("Results")[1].split("All groups")[0]


def test_group_page_breadcrumbs_members_and_expiry_badge(people, admin):
    page = admin.get("/ui/groups/eng/groups/backend")
    words = text(page)
    assert "Groups eng backend" in words  # breadcrumbs
    assert "<h1>Backend</h1>" in page.text
    assert "until 2030-01-01" in words


def test_members_are_paged_with_the_cursor_and_filtered_by_role(app, api, admin):
    api.group("/groups/big")
    for n in range(55):
        api.user(f"u{n:02d}")
    ops = [{"op": "add", "user": f"u{n:02d}"} for n in range(55)]
    ops[3]["role"] = "manager"
    api.patch("/groups/big/members", ops, status=200)
    first = admin.get("/ui/groups/big")
    assert "u49" in first.text and "u50" not in first.text
    second = first.click("Next page")
    assert "u50" in second.text and "u54" in second.text and "u49" not in second.text
    managers = text(admin.get("/ui/groups/big?role=manager"))
    assert "u03" in managers and "u04" not in managers


def test_the_effective_view_shows_via(people, admin):
    page = text(admin.get("/ui/groups/eng?view=effective"))
    assert "alice direct member" in page
    assert "bob via /groups/eng/groups/backend" in page


def test_add_change_and_remove_a_member_without_javascript(people, admin):
    res = admin.submit(
        "/ui/groups/eng/groups/backend",
        "add-member",
        {"user": "carol", "role": "manager", "expires_at": "2031-05-01T12:00"},
    )
    assert res.location.endswith("/ui/groups/eng/groups/backend#members")
    assert "carol added as manager." in res.follow().text
    body = people.get("/groups/eng/groups/backend/members/carol").json
    assert body["role"] == "manager" and body["expires_at"] == "2031-05-01T12:00:00Z"
    form = admin.form("/ui/groups/eng/groups/backend", "change-member", index=1)
    assert form["user"].value == "carol"
    form["role"] = "owner"
    assert "carol is now owner." in form.submit(status=303).follow().text
    assert people.get("/groups/eng/groups/backend/members/carol").json["role"] == "owner"
    page = admin.get("/ui/groups/eng/groups/backend")
    remove = next(
        f
        for f in page.forms.values()
        if f.action.endswith("/remove-member") and f["user"].value == "carol"
    )
    assert "carol removed." in remove.submit(status=303).follow().text
    assert people.get("/groups/eng/groups/backend/members/carol").status_int == 404


def test_member_errors_are_shown_next_to_the_field(people, admin):
    res = admin.submit("/ui/groups/eng", "add-member", {"user": "nobody"}, status=422)
    assert 'id="add-member-user-error">no such user<' in res.text
    assert 'aria-invalid="true" aria-describedby="add-member-user-error"' in res.text
    res = admin.submit("/ui/groups/eng", "add-member", {"user": "alice"}, status=409)
    assert "alice is already a member of /groups/eng" in res.text
    res = admin.submit("/ui/groups/eng", "add-member", {"user": "Bad Id"}, status=422)
    assert "must be 1-64 characters" in res.text
    res = admin.submit(
        "/ui/groups/eng", "add-member", {"user": "carol", "expires_at": "soon"}, status=400
    )
    assert 'id="add-member-expires_at-error">not a date and time<' in res.text
    assert "Traceback" not in res.text and "problem+json" not in res.text
    assert people.get("/groups/eng/members/carol").status_int == 404


def test_a_refused_change_keeps_nothing(people, admin, app):
    """The transaction of a refused form is doomed: no event, no half change."""
    before = people.get("/groups/eng/history").json["items"]
    admin.submit("/ui/groups/eng", "add-member", {"user": "nobody"}, status=422)
    assert people.get("/groups/eng/history").json["items"] == before


def test_bulk_add_is_all_or_nothing_with_errors_per_line(people, admin):
    res = admin.submit(
        "/ui/groups/eng",
        "bulk-add",
        {"ids": "bob\nnobody\n\ncarol\nalice\nbob"},
        status=422,
    )
    words = text(res)
    assert "Line 2 ( nobody ): no such user" in words
    assert "Line 5 ( alice ): already a member" in words
    assert "Line 6 ( bob ): repeats line 1" in words
    assert "nothing was applied" in words
    assert people.get("/groups/eng/members/bob").status_int == 404
    res = admin.submit("/ui/groups/eng", "bulk-add", {"ids": "bob\ncarol\n", "role": "member"})
    assert "2 members added as member." in res.follow().text
    assert people.get("/groups/eng/members/carol").status_int == 200


def test_group_edit_subgroup_create_move_and_delete(people, admin):
    res = admin.submit("/ui/groups/eng", "edit", {"title": "Eng", "description": "We build."})
    assert people.get("/groups/eng").json["title"] == "Eng"
    res = admin.submit("/ui/groups/eng", "new-subgroup", {"name": "web", "title": "Web"})
    assert "Subgroup web created." in res.follow().text
    res = admin.submit("/ui/groups/eng", "new-subgroup", {"name": "web"}, status=409)
    assert 'id="new-subgroup-name-error">group' in res.text
    res = admin.submit("/ui/groups/eng/groups/web", "move", {"to": "/groups/eng/groups/backend"})
    assert res.location.endswith("/ui/groups/eng/groups/backend/groups/web")
    res = admin.submit(
        "/ui/groups/eng/groups/backend/groups/web", "move", {"to": "nowhere"}, status=422
    )
    assert 'id="move-to-error">must be a group' in res.text
    res = admin.submit(
        "/ui/groups/eng/groups/backend/groups/web", "delete", {"confirm": "nope"}, status=400
    )
    assert "type web to confirm" in res.text
    res = admin.submit("/ui/groups/eng/groups/backend/groups/web", "delete", {"confirm": "web"})
    assert res.location.endswith("/ui/groups/eng/groups/backend#subgroups")
    assert people.get("/groups/eng/groups/backend/groups/web").status_int == 404


def test_moving_to_a_missing_group_is_refused_in_words(people, admin):
    res = admin.submit("/ui/groups/eng/groups/backend", "move", {"to": "/groups/x"}, status=422)
    assert 'id="move-to-error">no group at /groups/x<' in res.text


def test_admins_cannot_be_deleted_and_the_page_says_why(admin):
    res = admin.submit("/ui/groups/admins", "delete", {"confirm": "admins"}, status=409)
    assert "/groups/admins cannot be deleted" in res.text


def test_user_search_as_you_type(people, admin, app):
    res = admin.get("/ui/groups/eng/suggest-users?user=b")
    assert '<option value="bob">' in res.text and "alice" not in res.text
    # alice manages eng but may not list /users: she gets the members she may see
    alice = Browser(app, "alice")
    res = alice.get("/ui/groups/eng/groups/backend/suggest-users?user=")
    assert "<option" not in res.text
    res = alice.get("/ui/groups/eng/groups/backend/suggest-users?user=a")
    assert '<option value="alice">' in res.text
    assert "carol" not in alice.get("/ui/groups/eng/suggest-users?user=c").text


def test_user_page_profile_groups_and_tokens(people, app):
    bob = Browser(app, "bob")
    page = bob.get("/ui/users/bob")
    words = text(page)
    assert "Bob" in words and "/groups/eng/groups/backend direct until 2030-01-01 member" in words
    assert "/groups/eng inherited via /groups/eng/groups/backend" in words
    res = bob.submit("/ui/users/bob", "new-token", {"name": "laptop"}, status=201)
    secret = re.search(r'id="new-token-secret" type="text" readonly value="([^"]+)"', res.text)
    assert secret
    headers = {"Authorization": f"Bearer {secret.group(1)}"}
    assert TestApp(app).get("/", headers=headers).json["identity"]["user"] == "bob"
    page = bob.get("/ui/users/bob")
    assert secret.group(1) not in page.text  # shown once
    res = bob.submit("/ui/users/bob", "new-token", {"name": "ro", "scopes": ["read"]}, 201)
    assert "ro" in text(res) and "read" in text(res)
    assert bob.app.post(
        "/ui/users/bob/new-token", {"scopes": "nonsense", "csrf_token": bob.token()}, status=422
    )
    page = bob.get("/ui/users/bob")
    revoke = [f for f in page.forms.values() if f.action.endswith("/revoke-token")]
    assert len(revoke) == 2
    revoke[1].submit(status=303)
    res = bob.submit("/ui/users/bob", "revoke-token", {})
    assert "Token revoked." in res.follow().text
    assert TestApp(app).get("/", headers=headers, status=401)


def test_changing_your_own_password_needs_the_current_one(people, app):
    bob = Browser(app, "bob")
    fields = {"password": "new-password-1", "password_again": "new-password-1"}
    res = bob.submit("/ui/users/bob", "password", {**fields, "current_password": "x"}, status=403)
    assert 'id="password-current_password-error">not your current password<' in res.text
    res = bob.submit(
        "/ui/users/bob",
        "password",
        {**fields, "password_again": "other", "current_password": PASSWORD},
        status=400,
    )
    assert "does not match the new password" in res.text
    res = bob.submit(
        "/ui/users/bob",
        "password",
        {"password": "short", "password_again": "short", "current_password": PASSWORD},
        status=422,
    )
    assert "at least 8 characters" in res.text
    res = bob.submit("/ui/users/bob", "password", {**fields, "current_password": PASSWORD})
    assert "Password changed." in res.follow().text  # this session goes on
    assert Browser(app, "bob", "new-password-1").get("/ui/")


def test_admins_create_users(admin, api):
    res = admin.submit("/ui/users", "new-user", {"id": "dave", "display_name": "Dave"})
    assert res.location.endswith("/ui/users/dave")
    res = admin.submit("/ui/users", "new-user", {"id": "dave"}, status=409)
    assert 'id="new-user-id-error">user' in res.text
    res = admin.submit("/ui/users", "new-user", {"id": "erin", "email": "nope"}, status=422)
    assert 'id="new-user-email-error">not an email address<' in res.text


def test_access_page_edits_local_entries_with_the_guard_rails_messages(people, admin, app):
    form = admin.form("/ui/groups/eng/access", "acl-add")
    form["action"] = "Deny"
    form["principal"] = "user:bob"
    form["permissions"] = ["view"]
    res = form.submit(status=303)
    assert "Entry added." in res.follow().text
    assert people.get("/groups/eng/acl").json["entries"] == [
        {"action": "Deny", "principal": "user:bob", "permissions": ["view"]}
    ]
    res = admin.submit(
        "/ui/groups/eng/access",
        "acl-add",
        {"action": "Deny", "principal": "group:/groups/admins", "permissions": ["view"]},
        status=409,
    )
    assert "cannot be denied anything" in res.text
    res = admin.submit(
        "/ui/groups/eng/access",
        "acl-add",
        {"action": "Allow", "principal": "user:zed", "permissions": ["view"]},
        status=400,
    )
    assert 'id="acl-add-principal-error">no user &#39;zed&#39;<' in res.text
    # alice manages eng: no manage-acl, no form; owners of backend cannot grant what they lack
    alice = Browser(app, "alice")
    assert "acl-add" not in alice.get("/ui/groups/eng/access").text
    people.member("/groups/eng/groups/backend", "carol", "owner")
    carol = Browser(app, "carol")
    res = carol.submit(
        "/ui/groups/eng/groups/backend/access",
        "acl-add",
        {"action": "Allow", "principal": "user:alice", "permissions": ["create-user"]},
        status=403,
    )
    assert 'id="acl-add-permissions-error">grants create-user, which you do not hold here<' in (
        res.text
    )
    # and remove it again
    page = admin.get("/ui/groups/eng/access")
    remove = next(f for f in page.forms.values() if f.action.endswith("/acl-remove"))
    assert "Entry removed." in remove.submit(status=303).follow().text
    assert people.get("/groups/eng/acl").json["entries"] == []


def test_why_names_the_deciding_entry(people, admin, app):
    people.patch(
        "/groups/eng/groups/backend/acl",
        {"add": [{"action": "Deny", "principal": "user:alice", "permissions": ["view"]}]},
        status=200,
    )
    page = text(
        admin.get("/ui/groups/eng/groups/backend/access?principal=user:alice&permission=view")
    )
    assert "view denied Deny user:alice view on /groups/eng/groups/backend (local)" in page
    page = text(admin.get("/ui/groups/eng/access?principal=user:carol&permission=edit"))
    assert "edit denied no entry matched: denied by default" in page
    # about yourself anyone may ask; about others only holders of manage-acl
    bob = Browser(app, "bob")
    page = text(bob.get("/ui/groups/eng/access?principal=&permission=view"))
    assert "view allowed Allow group:/groups/eng view on /groups/eng (built-in)" in page
    res = bob.get("/ui/groups/eng/access?principal=user:alice&permission=view", status=403)
    assert "only holders of manage-acl here may ask about others" in res.text
    res = admin.get("/ui/groups/eng/access?principal=alice", status=400)
    assert 'id="why-principal-error">must be system.Everyone' in res.text


def test_history_shows_before_and_after_and_filters(people, admin):
    people.patch("/groups/eng/members/alice", {"role": "owner"}, status=200)
    page = text(admin.get("/ui/groups/eng/history"))
    assert "admin membership.changed /groups/eng/members/alice" in page
    assert "role manager owner" in page
    page = text(admin.get("/ui/groups/eng/history?action=group")).split("Filter")[-1]
    assert "membership.changed" not in page and "group.created" in page
    page = text(admin.get("/ui/groups/eng/history?actor=bob"))
    assert "No events to show." in page
    res = admin.get("/ui/groups/eng/history?since=yesterday", status=400)
    assert 'id="filter-since-error">not a date and time<' in res.text
    res = admin.get("/ui/groups/eng/history?action=nonsense", status=400)
    assert 'id="filter-action-error">' in res.text


def test_htmx_gets_the_same_answers_and_errors_swap_in_place(people, admin):
    token = admin.token()
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    res = admin.app.post(
        "/ui/groups/eng/add-member", {"user": "nobody"}, headers=headers, status=422
    )
    assert 'id="members"' in res.text and "no such user" in res.text
    res = admin.app.get("/ui/groups/nowhere", headers=headers, status=404)
    assert res.headers["HX-Retarget"] == "main"


def test_errors_are_pages_in_words(admin):
    res = admin.get("/ui/groups/nowhere", status=404)
    assert "There is nothing at /ui/groups/nowhere." in res.text
    assert res.content_type == "text/html"
    res = admin.app.get("/ui/groups/admins/add-member", status=404)
    assert res.content_type == "text/html"


def test_ui_views_are_not_api_methods(api):
    """The UI's POST views on groups do not leak into the API's ``Allow``."""
    api.group("/groups/eng")
    res = api.put("/groups/eng", {}, status=405)
    assert res.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    assert api.post("/groups/eng/add-member", {"user": "admin"}).status_int == 404
