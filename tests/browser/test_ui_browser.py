"""The admin UI in a real browser: Debian's Chromium, headless, against ``pserve``.

One story from login to logout with htmx doing the partial updates, the
manager's view of a group they only manage, a POST without the CSRF token,
and the add-member form with JavaScript off. The story saves screenshots
of the main pages to ``docs/screenshots/``.
"""

import re

import pytest

from .conftest import ADMIN_PASSWORD, PASSWORD, login, shot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(live):
    """alice manages eng, bob is a member of eng/backend (until 2030), carol is nobody."""
    for userid, name in [("alice", "Alice Liddell"), ("bob", "Bob Builder"), ("carol", "Carol")]:
        assert (
            live.api("POST", "/users", {"id": userid, "password": PASSWORD, "display_name": name})[
                0
            ]
            == 201
        )
    for parent, name, title, description in [
        ("/groups", "eng", "Engineering", "Everyone who builds the product."),
        ("/groups/eng/groups", "backend", "Backend", "Services, storage and the API."),
        ("/groups/eng/groups", "frontend", "Frontend", ""),
        ("/groups/eng/groups/backend/groups", "db", "Databases", ""),
        ("/groups", "ops", "Operations", ""),
    ]:
        body = {"name": name, "title": title, "description": description}
        assert live.api("POST", parent, body)[0] == 201
    assert live.api("POST", "/groups/eng/members", {"user": "alice", "role": "manager"})[0] == 201
    body = {"user": "bob", "expires_at": "2030-01-01T00:00:00Z"}
    assert live.api("POST", "/groups/eng/groups/backend/members", body)[0] == 201
    return live


def test_manage_a_nested_group_from_login_to_logout(page, seeded):
    live = seeded
    page.goto("/ui/groups/eng")
    assert "/ui/login" in page.url  # no session: the login page, no password dialog
    page.get_by_label("User id", exact=True).fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    shot(page, "login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/ui/groups/eng")

    page.get_by_role("link", name="Groups", exact=True).first.click()
    page.wait_for_url("**/ui/")
    shot(page, "tree")
    page.get_by_role("link", name="Backend").click()
    page.wait_for_url("**/ui/groups/eng/groups/backend")
    assert page.locator("h1").inner_text() == "Backend"
    assert page.title() == "Backend (/groups/eng/groups/backend) · membership"

    # add a member: the user field suggests as you type (htmx), the section updates in place
    field = page.get_by_label("User id", exact=True)
    field.press_sequentially("car", delay=50)
    page.locator("#user-options option[value=carol]").wait_for(state="attached")
    field.fill("carol")
    page.locator("#add-member-role").select_option("manager")
    page.get_by_role("button", name="Add member").click()
    page.get_by_text("carol added as manager.").wait_for()
    assert live.api("GET", "/groups/eng/groups/backend/members/carol")[1]["role"] == "manager"

    # change the role, then remove the member (htmx asks for a confirmation first)
    page.locator("#role-carol").select_option("owner")
    page.locator("#member-carol").get_by_role("button", name="Save").click()
    page.get_by_text("carol is now owner.").wait_for()
    assert live.api("GET", "/groups/eng/groups/backend/members/carol")[1]["role"] == "owner"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove carol").click()
    page.get_by_text("carol removed.").wait_for()
    assert live.api("GET", "/groups/eng/groups/backend/members/carol")[0] == 404
    shot(page, "group")

    # an ACL entry, then "why?"
    page.get_by_role("link", name="Access", exact=True).last.click()
    page.wait_for_url("**/groups/eng/groups/backend/access")
    page.locator("#acl-add-action").select_option("Deny")
    page.locator("#acl-add-principal").fill("user:alice")
    page.get_by_role("checkbox", name="view", exact=True).check()
    page.get_by_role("button", name="Add entry").click()
    page.get_by_text("Entry added.").wait_for()
    entries = live.api("GET", "/groups/eng/groups/backend/acl")[1]["entries"]
    assert entries == [{"action": "Deny", "principal": "user:alice", "permissions": ["view"]}]
    page.locator("#why-principal").fill("user:alice")
    page.locator("#why-permission").select_option("view")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator("#why .answer")
    answer.wait_for()
    words = re.sub(r"\s+", " ", answer.inner_text())
    assert "denied" in words
    assert "Deny user:alice view on /groups/eng/groups/backend (local)" in words
    shot(page, "access")

    # the history has it all, with before and after
    page.get_by_role("link", name="History", exact=True).last.click()
    page.wait_for_url("**/groups/eng/groups/backend/history")
    events = page.locator("table.events")
    assert "acl.changed" in events.inner_text()
    assert "membership.deleted" in events.inner_text()
    shot(page, "history", reload=True)
    page.locator("#filter-action").select_option("membership")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**action=membership**")
    assert "acl.changed" not in page.locator("table.events").inner_text()

    page.goto("/ui/users/bob")
    shot(page, "user")

    page.get_by_role("button", name="Log out").click()
    page.get_by_text("You have logged out.").wait_for()
    page.goto("/ui/groups/eng")
    assert "/ui/login" in page.url


def test_a_manager_sees_no_acl_editing_on_a_group_they_only_manage(page, seeded):
    login(page, "alice", PASSWORD)
    page.goto("/ui/groups/eng")
    assert page.get_by_role("button", name="Add member").is_visible()
    assert page.get_by_role("button", name="Delete group").count() == 0
    assert page.get_by_role("link", name="History", exact=True).count() == 0  # no view-history
    page.goto("/ui/groups/eng/access")
    assert page.get_by_text("changing them needs the manage-acl permission here").is_visible()
    assert page.get_by_role("button", name="Add entry").count() == 0
    assert page.locator("#acl-add-principal").count() == 0


def test_a_post_without_the_csrf_token_is_refused(page, seeded):
    live = seeded
    login(page, "admin", ADMIN_PASSWORD)
    page.goto("/ui/groups/ops")
    # the browser's own POST, with its session cookie but without the token
    res = page.request.post(live.base + "/ui/groups/ops/add-member", form={"user": "carol"})
    assert res.status == 400 and "Form expired" in res.text()
    # the real form, its token taken out
    page.evaluate(
        """() => {
            document.body.removeAttribute('hx-headers');
            const form = document.querySelector('form[action$="/add-member"]');
            for (const name of ['hx-post', 'hx-target', 'hx-select', 'hx-swap']) {
                form.removeAttribute(name);
            }
            form.querySelector('input[name=csrf_token]').remove();
        }"""
    )
    page.get_by_label("User id", exact=True).fill("carol")
    page.get_by_role("button", name="Add member").click()
    page.get_by_role("heading", name="Form expired").wait_for()
    assert live.api("GET", "/groups/ops/members/carol")[0] == 404


def test_add_member_works_without_javascript(browser, seeded):
    live = seeded
    context = browser.new_context(base_url=live.base, java_script_enabled=False)
    try:
        page = context.new_page()
        login(page, "admin", ADMIN_PASSWORD)
        page.goto("/ui/groups/eng/groups/frontend")
        page.get_by_label("User id", exact=True).fill("carol")
        page.get_by_role("button", name="Add member").click()
        page.get_by_text("carol added as member.").wait_for()
        assert live.api("GET", "/groups/eng/groups/frontend/members/carol")[0] == 200
        # and an error comes back in words next to the field, still without JavaScript
        page.get_by_label("User id", exact=True).fill("nobody")
        page.get_by_role("button", name="Add member").click()
        assert page.locator("#add-member-user-error").inner_text() == "no such user"
    finally:
        context.close()


def test_a_change_made_through_the_api_appears_on_an_open_history_page(page, seeded):
    live = seeded
    login(page, "admin", ADMIN_PASSWORD)
    page.goto("/ui/groups/eng/history")
    page.get_by_text("Live: new events appear at the top").wait_for()
    rows = page.locator("table.events > tbody > tr")
    before = rows.count()
    # first a change outside eng, then one inside: when the second shows, the first
    # would have shown already, had the page not been filtered to eng's subtree
    body = {"user": "bob", "role": "member"}
    assert live.api("POST", "/groups/ops/members", body)[0] == 201
    assert live.api("POST", "/groups/eng/groups/frontend/members", body)[0] == 201
    rows.filter(has_text="/groups/eng/groups/frontend/members/bob").wait_for()
    assert rows.count() == before + 1
    top = rows.first.inner_text()
    assert "membership.created" in top and "/groups/eng/groups/frontend/members/bob" in top
    assert "/groups/ops" not in page.locator("table.events").inner_text()
