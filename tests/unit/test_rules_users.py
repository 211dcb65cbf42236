"""Rules for users: names, password changes, tokens, and what a deletion takes with it."""

import pytest
from pyramid.authorization import Allow

from membership.domain import Actor, acl
from membership.domain.errors import AlreadyExists, InvalidValue, NotPermitted, Refused
from membership.domain.groups import create_group
from membership.domain.members import add_member
from membership.domain.tokens import create_token
from membership.domain.users import create_user, delete_user, update_user

from .conftest import CREDENTIALS, as_user


def put_acl(ctx, node, *entries):
    new = acl.parse_entries(ctx.root, entries, "entries")
    acl.set_acl(ctx, node, new, lambda ace: "entries")


@pytest.fixture
def alice(system):
    return create_user(system, "alice", password="old secret")


# create_user


@pytest.mark.parametrize("name", ["alice", "a", "bob.smith", "x_1-2", "0day", "a" * 64])
def test_create_user_accepts_lowercase_slug(root, system, name):
    assert create_user(system, name).id == name
    assert name in root.users


@pytest.mark.parametrize(
    "name", ["", "Alice", "-bob", ".x", "a b", "..", "é", "a" * 65, "@@x", "x/y", "bob\n"]
)
def test_create_user_refuses_malformed_name_as_invalid_id(root, system, name):
    with pytest.raises(InvalidValue) as exc:
        create_user(system, name)
    assert exc.value.subject == "id"
    assert len(root.users) == 0


@pytest.mark.parametrize("name", ["history", "tokens", "acl", "members", "groups"])
def test_create_user_refuses_reserved_name(root, system, name):
    with pytest.raises(InvalidValue) as exc:
        create_user(system, name)
    assert exc.value.subject == "id"
    assert name not in root.users._items


def test_create_user_refuses_duplicate_id(system, alice):
    with pytest.raises(AlreadyExists) as exc:
        create_user(system, "alice", password="other")
    assert exc.value.subject == "id"
    assert CREDENTIALS.verify(alice.password_hash, "old secret")


# update_user: passwords


def test_own_password_change_without_current_password_is_invalid(root, alice):
    with pytest.raises(InvalidValue) as exc:
        update_user(as_user(root, "alice"), alice, password="new secret")
    assert exc.value.subject == "current_password"
    assert CREDENTIALS.verify(alice.password_hash, "old secret")


def test_own_password_change_with_wrong_current_password_is_not_permitted(root, alice):
    with pytest.raises(NotPermitted) as exc:
        update_user(as_user(root, "alice"), alice, password="new secret", current_password="guess")
    assert exc.value.subject == "current_password"
    assert CREDENTIALS.verify(alice.password_hash, "old secret")


def test_own_password_change_with_current_password_changes_it(root, alice):
    before = update_user(
        as_user(root, "alice"), alice, password="new secret", current_password="old secret"
    )
    assert "password" in before
    assert CREDENTIALS.verify(alice.password_hash, "new secret")
    assert not CREDENTIALS.verify(alice.password_hash, "old secret")


def test_admin_changes_another_users_password_without_current_password(root, admin, alice):
    update_user(as_user(root, "admin"), alice, password="reset by admin")
    assert CREDENTIALS.verify(alice.password_hash, "reset by admin")


def test_password_change_is_redacted_in_history(root, alice):
    update_user(as_user(root, "alice"), alice, password="new secret", current_password="old secret")
    event = max(root.history.oldest_first(), key=lambda e: e.id)
    assert event.action == "user.changed"
    assert event.before == {"password": "[redacted]"} == event.after


# update_user: tokens


def test_revoke_tokens_removes_tokens_and_their_digests(root, system, alice):
    first, _ = create_token(system, alice, name="ci")
    second, _ = create_token(system, alice, name="laptop")
    bob = create_user(system, "bob")
    bobs, _ = create_token(system, bob)
    update_user(system, alice, revoke_tokens=True)
    assert alice.tokens.values() == []
    assert first.digest not in root.token_digests
    assert second.digest not in root.token_digests
    assert root.token_digests[bobs.digest] == ("bob", bobs.id)


def test_update_without_revoke_tokens_keeps_them(root, system, alice):
    token, _ = create_token(system, alice)
    update_user(system, alice, display_name="Alice")
    assert alice.tokens.values() == [token]
    assert root.token_digests[token.digest] == ("alice", token.id)


# delete_user


def test_delete_user_removes_memberships_from_tree_and_index(root, system, alice):
    eng = create_group(system, root.groups, "eng")
    sub = create_group(system, eng.groups, "sub")
    add_member(system, eng, "alice")
    add_member(system, sub, "alice", "manager")
    delete_user(system, alice)
    assert "alice" not in root.users
    assert root.index.paths("alice") == []
    assert "alice" not in eng.members and len(eng.members) == 0
    assert "alice" not in sub.members and len(sub.members) == 0


def test_delete_user_removes_their_token_digests(root, system, alice):
    token, _ = create_token(system, alice)
    delete_user(system, alice)
    assert token.digest not in root.token_digests


def test_delete_user_removes_aces_naming_them_everywhere(root, system, alice):
    carol = create_user(system, "carol")
    eng = create_group(system, root.groups, "eng")
    put_acl(system, root, (Allow, "user:alice", ["view"]))
    put_acl(system, eng, (Allow, "user:alice", ["edit"]), (Allow, "user:carol", ["view"]))
    put_acl(system, carol, (Allow, "user:alice", ["view"]))
    put_acl(system, alice, (Allow, "user:carol", ["view"]))
    delete_user(system, alice)
    assert root.local_acl == ()
    assert eng.local_acl == ((Allow, "user:carol", ("view",)),)
    assert carol.local_acl == ()
    assert dict(root.acl_nodes) == {"/groups/eng": ("user:carol",)}


def test_user_recreated_under_same_id_inherits_no_grants(root, system, alice):
    eng = create_group(system, root.groups, "eng")
    put_acl(system, eng, (Allow, "user:alice", ["edit"]))
    assert Actor.user(root, "alice").may("edit", eng)
    delete_user(system, alice)
    create_user(system, "alice")
    assert not Actor.user(root, "alice").may("edit", eng)


def test_last_admin_cannot_be_deleted(root, system, admin):
    with pytest.raises(Refused):
        delete_user(system, root.users["admin"])
    assert "admin" in root.users
    assert root.index.paths("admin") == ["/groups/admins"]


def test_admin_can_be_deleted_while_another_admin_remains(root, system, admin):
    create_user(system, "second")
    add_member(system, root.groups["admins"], "second")
    delete_user(system, root.users["admin"])
    assert list(root.groups["admins"].members.keys()) == ["second"]
