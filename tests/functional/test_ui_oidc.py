"""The admin UI's "Log in with <IdP>": OpenID Connect authorization code flow with PKCE,
against a real provider on loopback (``tests/oidc_issuer.py``: discovery, JWKS, an
auto-approving authorization endpoint, a token endpoint that checks PKCE).

WebTest plays the browser on our side; the hop to the provider's authorization
endpoint is a real HTTP request, and the provider's redirect back is followed by hand.
"""

import html
import http.client
from urllib.parse import parse_qs, urlsplit

import pytest
from webtest import TestApp

import membership
from membership.scripts.initialize import ensure_admin
from membership.web.db import database
from tests.oidc_issuer import AUDIENCE, Issuer

from .conftest import TEST_SETTINGS, script_context, with_root
from .helpers import ADMIN, PASSWORD, Api
from .test_ui import Browser
from .test_ui import text as page_text

pytestmark = pytest.mark.no_spec_check

IDP = "Loopback IdP"


@pytest.fixture
def issuer():
    issuer = Issuer()
    issuer.add_key("rsa1", "RSA")
    yield issuer
    issuer.stop()


@pytest.fixture
def settings(settings, issuer):
    return {
        **settings,
        "membership.ui.insecure_cookies": "true",
        "membership.oidc.issuer": issuer.url,
        "membership.oidc.audience": AUDIENCE,
        "membership.oidc.username_claim": "preferred_username",
        "membership.ui.oidc_client_id": issuer.client_id,
        "membership.ui.oidc_name": IDP,
    }


@pytest.fixture
def alice(api, issuer):
    """alice, whose account at the provider (subject a-123) is linked to her user."""
    api.user("alice")
    api.post("/users/alice/identities", {"issuer": issuer.url, "subject": "a-123"}, status=201)
    issuer.login_subject = "a-123"
    return api


def text(res) -> str:
    return html.unescape(page_text(res))


def at_provider(url: str) -> str:
    """GET the provider's authorization URL (a real request): where it sends the browser."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        res = conn.getresponse()
        assert res.status == 302, res.read()
        return res.getheader("Location")
    finally:
        conn.close()


def start(browser: TestApp, came_from: str | None = None) -> str:
    """Press "Log in with …": the URL of the provider's authorization endpoint."""
    page = browser.get("/ui/login" + (f"?came_from={came_from}" if came_from else ""))
    link = page.html.find("a", string=f"Log in with {IDP}")
    assert link is not None, page.text
    res = browser.get(link["href"], status=302)
    return res.location


def back(browser: TestApp, location: str, status: int):
    """The provider's redirect to /ui/login/callback, followed."""
    parts = urlsplit(location)
    assert parts.path == "/ui/login/callback", location
    return browser.get(f"{parts.path}?{parts.query}", status=status)


def logged_in_as(browser: TestApp) -> str | None:
    res = browser.get("/ui/", expect_errors=True)
    if res.status_int != 200:
        return None
    return res.html.select_one(".me a").get_text()


def test_the_login_page_offers_the_provider(testapp, issuer):
    page = testapp.get("/ui/login")
    link = page.html.find("a", string=f"Log in with {IDP}")
    assert link["href"] == "/ui/login/oidc"


def test_without_a_client_id_there_is_no_provider_button(issuer):
    app = membership.main(
        {},
        **{
            **TEST_SETTINGS,
            "membership.oidc.issuer": issuer.url,
            "membership.oidc.audience": AUDIENCE,
        },
    )
    page = TestApp(app).get("/ui/login")
    assert "Log in with" not in page.text
    TestApp(app).get("/ui/login/oidc", status=404)


def test_the_authorization_request_carries_state_nonce_and_a_pkce_challenge(testapp, issuer):
    url = start(testapp)
    assert url.startswith(issuer.url + "/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert params["response_type"] == "code"
    assert params["client_id"] == issuer.client_id
    assert params["redirect_uri"] == "http://localhost/ui/login/callback"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43  # base64url of SHA-256, unpadded
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert "openid" in params["scope"].split()


def test_the_flow_cookie_is_scoped_and_signed(testapp, alice, issuer):
    page = testapp.get("/ui/login")
    res = testapp.get(page.html.find("a", string=f"Log in with {IDP}")["href"], status=302)
    header = res.headers["Set-Cookie"]
    assert header.startswith("membership_ui_login=")
    for flag in ("Path=/ui/login", "HttpOnly", "SameSite=Lax", "Max-Age=600"):
        assert flag in header, header
    location = at_provider(res.location)
    # a flow cookie changed in the browser is not this service's: refused before any exchange
    (cookie,) = [c for c in testapp.cookiejar if c.name == "membership_ui_login"]
    cookie.value = cookie.value[:-2] + ("AA" if cookie.value[-2:] != "AA" else "BB")
    res = back(testapp, location, 400)
    assert "expired or was started in another browser" in text(res)
    assert issuer.token_requests == []


def test_a_linked_identity_logs_in_with_the_same_session_as_a_password(testapp, alice, issuer):
    location = at_provider(start(testapp, came_from="/ui/users/alice"))
    res = back(testapp, location, 200)
    # a page that moves on by itself (see oidc_callback), to where the login began
    refresh = res.html.find("meta", attrs={"http-equiv": "refresh"})
    assert refresh["content"] == "0;url=/ui/users/alice"
    assert "membership_ui_login" not in testapp.cookies  # one flow, one callback
    assert logged_in_as(testapp) == "alice"
    # the provider saw the PKCE verifier and checked it against the challenge
    (exchange,) = issuer.token_requests
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]
    assert issuer.refusals == []
    # the same session cookie as a password login: logout ends it
    page = testapp.get("/ui/")
    page.forms[0].submit(status=303)
    assert logged_in_as(testapp) is None


def test_the_username_claim_names_the_user_when_no_identity_is_linked(testapp, api, issuer):
    api.user("bob")
    issuer.login_subject = "b-77"
    issuer.login_claims = {"preferred_username": "bob"}
    back(testapp, at_provider(start(testapp)), 200)
    assert logged_in_as(testapp) == "bob"


def test_an_unknown_identity_is_told_so_on_the_login_page(testapp, alice, issuer):
    issuer.login_subject = "stranger-1"
    issuer.login_claims = {"preferred_username": "nobody-here"}
    res = back(testapp, at_provider(start(testapp)), 403)
    words = text(res)
    assert f"Your {IDP} account (subject stranger-1) is not linked to a user" in words
    assert res.html.find("input", attrs={"name": "user"}) is not None  # the login form
    assert logged_in_as(testapp) is None


def test_a_wrong_state_is_refused_before_any_code_is_exchanged(testapp, alice, issuer):
    location = at_provider(start(testapp))
    forged = location.replace("state=", "state=x")
    res = back(testapp, forged, 400)
    assert "does not belong to the login started here (state)" in text(res)
    assert issuer.token_requests == []
    assert logged_in_as(testapp) is None


def test_a_callback_without_a_flow_of_this_browser_is_refused(app, alice, issuer):
    victim, attacker = TestApp(app), TestApp(app)
    location = at_provider(start(victim))
    res = back(attacker, location, 400)
    assert "expired or was started in another browser" in text(res)
    assert issuer.token_requests == []


def test_an_injected_code_fails_pkce_at_the_provider(app, alice, issuer):
    """A code stolen from one browser's login, replayed into another browser's own login
    (its own state): the provider refuses, the verifier is not the one for that code."""
    victim, attacker = TestApp(app), TestApp(app)
    stolen = parse_qs(urlsplit(at_provider(start(victim))).query)["code"][0]
    own = at_provider(start(attacker))
    own_state = parse_qs(urlsplit(own).query)["state"][0]
    res = back(attacker, f"http://localhost/ui/login/callback?code={stolen}&state={own_state}", 403)
    assert "PKCE verification failed" in text(res)
    assert issuer.refusals == ["invalid_grant"]
    assert logged_in_as(attacker) is None


def test_an_id_token_with_another_nonce_is_refused(testapp, alice, issuer):
    issuer.nonce_override = "not-the-nonce-we-sent"
    res = back(testapp, at_provider(start(testapp)), 403)
    assert "the ID token's nonce does not match this login" in text(res)
    assert logged_in_as(testapp) is None


def test_an_id_token_for_another_client_is_refused(testapp, alice, issuer):
    issuer.login_claims = {"aud": "someone-else", "azp": "someone-else"}
    res = back(testapp, at_provider(start(testapp)), 403)
    assert "another audience (aud)" in text(res)
    assert logged_in_as(testapp) is None


def test_a_refusal_at_the_provider_is_shown_in_words(testapp, alice):
    res = testapp.get(
        "/ui/login/callback?error=access_denied&error_description=User+said+no", status=400
    )
    assert "expired or was started in another browser" in text(res)  # no flow: state first
    url = start(testapp)
    state = parse_qs(urlsplit(url).query)["state"][0]
    res = testapp.get(
        f"/ui/login/callback?error=access_denied&error_description=User+said+no&state={state}",
        status=403,
    )
    assert f"{IDP} did not log you in (access_denied: User said no)" in text(res)


def test_a_provider_that_cannot_be_reached_is_a_503_page_not_a_500(testapp, issuer):
    issuer.stop()
    page = testapp.get("/ui/login")
    link = page.html.find("a", string=f"Log in with {IDP}")
    res = testapp.get(link["href"], status=503)
    assert f"{IDP} cannot be reached right now" in text(res)
    assert res.headers["Retry-After"] == "30"


def test_other_paths_under_login_are_not_the_login_form(testapp):
    testapp.get("/ui/login/elsewhere", status=303)  # not found, no session: to the login


# Linked identities on the user page: admins link and unlink, the user reads their own.


def test_an_admin_links_an_identity_on_the_user_page_and_it_logs_in(app, api, issuer):
    api.user("alice")
    admin = Browser(app, "admin")
    form = admin.form("/ui/users/alice", "link-identity")
    assert form["issuer"].value == issuer.url  # the configured issuer, ready
    form["subject"] = "a-999"
    res = form.submit(status=303).follow()
    assert "Identity linked." in text(res)
    (linked,) = api.get("/users/alice/identities").json["items"]
    assert (linked["issuer"], linked["subject"]) == (issuer.url, "a-999")

    browser = TestApp(app)
    issuer.login_subject = "a-999"
    back(browser, at_provider(start(browser)), 200)
    assert logged_in_as(browser) == "alice"
    # alice reads her identity, but may not link or unlink
    page = browser.get("/ui/users/alice")
    assert "a-999" in page.html.select_one("#identities").get_text()
    assert page.html.select_one('form[action$="/link-identity"]') is None
    assert page.html.select_one('form[action$="/unlink-identity"]') is None
    token = page.forms[0]["csrf_token"].value
    browser.post(
        "/ui/users/alice/unlink-identity", {"identity": "1", "csrf_token": token}, status=403
    )
    assert (
        api.post(
            "/users/alice/identities", {"issuer": issuer.url, "subject": "x"}, as_="alice"
        ).status_int
        == 403
    )

    # the admin unlinks it: the next login with it is refused
    admin.submit("/ui/users/alice", "unlink-identity", {}).follow()
    assert api.get("/users/alice/identities").json["items"] == []
    other = TestApp(app)
    back(other, at_provider(start(other)), 403)


def test_linking_errors_are_shown_by_the_field(app, api, issuer):
    api.user("alice")
    api.user("bob")
    api.post("/users/bob/identities", {"issuer": issuer.url, "subject": "b-1"}, status=201)
    admin = Browser(app, "admin")
    res = admin.submit("/ui/users/alice", "link-identity", {"subject": "b-1"}, status=409)
    assert "already linked to user 'bob'" in text(res)
    res = admin.submit(
        "/ui/users/alice", "link-identity", {"issuer": "not a url", "subject": "x"}, status=422
    )
    assert res.html.select_one("#link-identity-issuer-error") is not None


@pytest.mark.parametrize(("ours", "status"), [("s3cret", 200), ("wrong", 403)])
def test_a_confidential_client_sends_its_secret(settings, issuer, ours, status):
    issuer.client_secret = "s3cret"
    app = membership.main({}, **{**settings, "membership.ui.oidc_client_secret": ours})
    db = database(app.registry)
    try:
        context = script_context
        with_root(db, lambda root: ensure_admin(context(root, app.registry), ADMIN, PASSWORD))
        api = Api(TestApp(app))
        api.user("alice")
        api.post("/users/alice/identities", {"issuer": issuer.url, "subject": "a-1"}, status=201)
        issuer.login_subject = "a-1"
        browser = TestApp(app)
        res = back(browser, at_provider(start(browser)), status)
        if status == 200:
            assert logged_in_as(browser) == "alice"
        else:
            assert "invalid_client" in text(res) and logged_in_as(browser) is None
    finally:
        db.close()
