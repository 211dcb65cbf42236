""" "Log in with <IdP>" in a real browser: Chromium, ``pserve``, and the loopback OpenID
provider of the functional tests (``tests/oidc_issuer.py``) on ``localhost`` while the
service is on ``127.0.0.1``, so the provider is another site, as a real one is: the
flow cookie must come back on the cross-site redirect, and the session cookie
(``SameSite=Strict``) must work after it.
"""

import pytest

from tests.oidc_issuer import AUDIENCE, Issuer

from .conftest import PASSWORD, LiveServer, shot

pytestmark = pytest.mark.slow

IDP = "Loopback IdP"


@pytest.fixture(scope="module")
def issuer():
    issuer = Issuer(host="localhost")
    issuer.add_key("rsa1", "RSA")
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory, chromium_ok, issuer):
    env = {
        "MEMBERSHIP_OIDC_ISSUER": issuer.url,
        "MEMBERSHIP_OIDC_AUDIENCE": AUDIENCE,
        "MEMBERSHIP_UI_OIDC_CLIENT_ID": issuer.client_id,
        "MEMBERSHIP_UI_OIDC_NAME": IDP,
    }
    server = LiveServer(tmp_path_factory.mktemp("ui-oidc"), env).start()
    assert server.api("POST", "/users", {"id": "alice", "password": PASSWORD})[0] == 201
    assert server.api("POST", "/groups", {"name": "eng", "title": "Engineering"})[0] == 201
    assert server.api("POST", "/groups/eng/members", {"user": "alice", "role": "owner"})[0] == 201
    body = {"issuer": issuer.url, "subject": "a-123"}
    assert server.api("POST", "/users/alice/identities", body)[0] == 201
    yield server
    server.stop()


def test_log_in_with_the_identity_provider(page, live, issuer):
    issuer.login_subject = "a-123"
    issuer.interactive = True  # the way back starts on the provider's page (another site)
    page.goto("/ui/groups/eng")
    assert "/ui/login" in page.url
    page.get_by_role("link", name=f"Log in with {IDP}").click()
    page.get_by_role("link", name="Approve").click()
    page.wait_for_url("**/ui/groups/eng")
    assert page.locator(".me").inner_text().startswith("Logged in as alice")
    assert page.locator("h1").inner_text() == "Engineering"
    assert any(path.startswith("/authorize?") for path in issuer.fetched)
    assert issuer.refusals == []
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["membership_ui"]["sameSite"] == "Strict" and cookies["membership_ui"]["httpOnly"]
    assert "membership_ui_login" not in cookies  # the flow is over


def test_an_unknown_identity_comes_back_to_the_login_page_with_the_reason(page, live, issuer):
    issuer.login_subject = "nobody-77"
    issuer.interactive = False
    page.goto("/ui/login")
    page.get_by_role("link", name=f"Log in with {IDP}").click()
    page.get_by_text("is not linked to a user of this service").wait_for()
    assert "/ui/login/callback" in page.url
    assert page.get_by_label("User id", exact=True).is_visible()  # the password form too
    shot(page, "login-oidc")
