"""Rules for memberships: adding, the owner role, the last admin, batches and imports."""

from datetime import UTC, datetime, timedelta

import pytest

from membership import clock
from membership.domain.errors import (
    AlreadyExists,
    BulkOperationFailed,
    InvalidValue,
    NotFound,
    NotPermitted,
    Refused,
    Unprocessable,
)
from membership.domain.groups import create_group
from membership.domain.members import (
    Operation,
    add_member,
    apply_batch,
    change_member,
    import_members,
    remove_member,
)
from membership.domain.users import create_user, delete_user

from .conftest import as_user, script


@pytest.fixture
def eng(root, system):
    """/groups/eng with olive (owner), mary (manager), and bob, carol, dave not in it."""
    for userid in ("olive", "mary", "bob", "carol", "dave"):
        create_user(system, userid)
    group = create_group(system, root.groups, "eng")
    add_member(system, group, "olive", "owner")
    add_member(system, group, "mary", "manager")
    return group


def roles_in_index(root, userid) -> list:
    return [(entry.path, entry.role) for entry in root.index.entries(userid)]


def event_ids(root) -> set:
    return {event.id for event in root.history.oldest_first()}


def events_after(root, seen: set) -> list:
    return [event for event in root.history.oldest_first() if event.id not in seen]


# add_member


def test_add_member_puts_them_in_tree_and_index(root, system, eng):
    add_member(system, eng, "bob", "manager")
    assert eng.members.get("bob").role == "manager"
    assert roles_in_index(root, "bob") == [("/groups/eng", "manager")]


def test_add_unknown_user_is_not_found(root, system, eng):
    with pytest.raises(NotFound) as exc:
        add_member(system, eng, "ghost")
    assert exc.value.subject == "user"
    assert "ghost" not in eng.members


def test_add_existing_member_again_already_exists(system, eng):
    with pytest.raises(AlreadyExists) as exc:
        add_member(system, eng, "mary", "member")
    assert exc.value.subject == "user"
    assert eng.members.get("mary").role == "manager"


@pytest.mark.parametrize("role", ["admin", "Owner", "", "members"])
def test_add_with_unknown_role_is_invalid(system, eng, role):
    with pytest.raises(InvalidValue) as exc:
        add_member(system, eng, "bob", role)
    assert exc.value.subject == "role"
    assert "bob" not in eng.members


# the owner role needs grant-owner


def test_manager_can_add_member_and_manager(root, eng):
    ctx = as_user(root, "mary")
    add_member(ctx, eng, "bob", "member")
    add_member(ctx, eng, "carol", "manager")
    assert eng.members.get("carol").role == "manager"


def test_manager_cannot_grant_owner(root, eng):
    with pytest.raises(NotPermitted) as exc:
        add_member(as_user(root, "mary"), eng, "bob", "owner")
    assert exc.value.facts["permission"] == "grant-owner"
    assert "bob" not in eng.members


def test_manager_cannot_promote_to_owner(root, system, eng):
    add_member(system, eng, "bob")
    with pytest.raises(NotPermitted):
        change_member(as_user(root, "mary"), eng, "bob", role="owner")
    assert eng.members.get("bob").role == "member"


def test_manager_cannot_demote_owner(root, eng):
    with pytest.raises(NotPermitted):
        change_member(as_user(root, "mary"), eng, "olive", role="member")
    assert eng.members.get("olive").role == "owner"


def test_manager_cannot_remove_owner(root, eng):
    with pytest.raises(NotPermitted):
        remove_member(as_user(root, "mary"), eng, "olive")
    assert "olive" in eng.members


def test_manager_cannot_remove_owner_in_batch(root, eng):
    with pytest.raises(BulkOperationFailed) as exc:
        apply_batch(as_user(root, "mary"), eng, [Operation("remove", "olive")])
    assert isinstance(exc.value.cause, NotPermitted)


def test_owner_can_grant_change_and_remove_owner(root, eng):
    ctx = as_user(root, "olive")
    add_member(ctx, eng, "bob", "owner")
    change_member(ctx, eng, "mary", role="owner")
    change_member(ctx, eng, "bob", role="member")
    remove_member(ctx, eng, "mary")
    assert eng.members.get("bob").role == "member"
    assert "mary" not in eng.members
    assert root.index.paths("mary") == []


def test_manager_of_parent_cannot_grant_owner_in_subgroup(root, system, eng):
    sub = create_group(system, eng.groups, "sub")
    with pytest.raises(NotPermitted):
        add_member(as_user(root, "mary"), sub, "bob", "owner")


def test_owner_of_parent_can_grant_owner_in_subgroup(root, system, eng):
    sub = create_group(system, eng.groups, "sub")
    add_member(as_user(root, "olive"), sub, "bob", "owner")
    assert sub.members.get("bob").role == "owner"


# the last admin


def test_last_admin_cannot_be_removed(root, system, admin):
    with pytest.raises(Refused):
        remove_member(system, root.groups["admins"], "admin")
    assert root.index.paths("admin") == ["/groups/admins"]


def test_admin_can_be_removed_while_another_admin_remains(root, system, admin):
    create_user(system, "second")
    add_member(system, root.groups["admins"], "second")
    remove_member(system, root.groups["admins"], "admin")
    assert list(root.groups["admins"].members.keys()) == ["second"]


@pytest.fixture
def restore_clock():
    yield
    clock.set_clock(None)


def test_last_active_admin_cannot_be_removed_while_the_other_has_expired(
    root, system, admin, restore_clock
):
    now = datetime.now(UTC)
    create_user(system, "former")
    add_member(system, root.groups["admins"], "former", expires_at=now + timedelta(hours=1))
    clock.set_clock(lambda: now + timedelta(hours=2))
    with pytest.raises(Refused):
        remove_member(system, root.groups["admins"], "admin")


def test_last_active_admin_cannot_be_deleted_while_the_other_has_expired(
    root, system, admin, restore_clock
):
    now = datetime.now(UTC)
    create_user(system, "former")
    add_member(system, root.groups["admins"], "former", expires_at=now + timedelta(hours=1))
    clock.set_clock(lambda: now + timedelta(hours=2))
    with pytest.raises(Refused):
        delete_user(system, root.users["admin"])


# apply_batch


def test_batch_applies_every_operation(root, system, eng):
    counts = apply_batch(
        system,
        eng,
        [
            Operation("add", "bob"),
            Operation("replace", "mary", "member"),
            Operation("remove", "olive"),
        ],
    )
    assert counts == {"add": 1, "remove": 1, "replace": 1}
    assert sorted(eng.members.keys()) == ["bob", "mary"]
    assert root.index.paths("olive") == []
    assert roles_in_index(root, "mary") == [("/groups/eng", "member")]


def test_failing_operation_is_named_by_position_and_field(system, eng):
    ops = [Operation("add", "bob"), Operation("add", "carol"), Operation("add", "ghost")]
    with pytest.raises(BulkOperationFailed) as exc:
        apply_batch(system, eng, ops)
    assert exc.value.position == 2
    assert exc.value.subject == "2.user"
    assert isinstance(exc.value.cause, NotFound)


def test_failing_role_is_named_by_position_and_field(system, eng):
    with pytest.raises(BulkOperationFailed) as exc:
        apply_batch(system, eng, [Operation("add", "bob"), Operation("add", "carol", "boss")])
    assert exc.value.subject == "1.role"
    assert isinstance(exc.value.cause, InvalidValue)


def test_add_then_remove_of_one_user_contradicts(system, eng):
    ops = [Operation("add", "bob"), Operation("add", "carol"), Operation("remove", "bob")]
    with pytest.raises(BulkOperationFailed) as exc:
        apply_batch(system, eng, ops)
    assert exc.value.position == 2
    assert isinstance(exc.value.cause, Unprocessable)
    assert exc.value.cause.facts["operations"] == [0, 2]


def test_remove_then_add_of_one_user_contradicts(system, eng):
    ops = [Operation("remove", "mary"), Operation("add", "mary", "owner")]
    with pytest.raises(BulkOperationFailed) as exc:
        apply_batch(system, eng, ops)
    assert isinstance(exc.value.cause, Unprocessable)
    assert exc.value.cause.facts["operations"] == [0, 1]


def test_add_then_replace_of_one_user_is_fine(system, eng):
    apply_batch(system, eng, [Operation("add", "bob"), Operation("replace", "bob", "manager")])
    assert eng.members.get("bob").role == "manager"


def test_thousand_alternating_operations_are_refused_without_history(root, system, eng):
    before = len(root.history)
    ops = [Operation("add" if i % 2 == 0 else "remove", "bob") for i in range(1000)]
    with pytest.raises(BulkOperationFailed) as exc:
        apply_batch(system, eng, ops)
    assert isinstance(exc.value.cause, Unprocessable)
    assert len(root.history) == before


def test_batch_records_one_event_per_user_with_net_effect(root, system, eng):
    seen = event_ids(root)
    apply_batch(system, eng, [Operation("add", "bob"), Operation("replace", "bob", "manager")])
    events = events_after(root, seen)
    assert [event.action for event in events] == ["membership.created"]
    assert events[0].after["role"] == "manager"
    assert events[0].target == "/groups/eng/members/bob"


def test_batch_replace_twice_records_one_change(root, system, eng):
    add_member(system, eng, "bob")
    seen = event_ids(root)
    ops = [Operation("replace", "bob", "manager"), Operation("replace", "bob", "owner")]
    apply_batch(system, eng, ops)
    events = events_after(root, seen)
    assert [event.action for event in events] == ["membership.changed"]
    assert (events[0].before, events[0].after) == ({"role": "member"}, {"role": "owner"})


def test_batch_that_changes_nothing_records_nothing(root, system, eng):
    seen = event_ids(root)
    apply_batch(system, eng, [Operation("replace", "mary", "manager")])
    assert events_after(root, seen) == []


# import_members


def test_import_creates_missing_users_and_adds_members(root, eng):
    ctx = script(root, "import_members")
    seen = event_ids(root)
    added = import_members(ctx, eng, [("newbie", "member"), ("bob", "manager"), ("mary", "owner")])
    assert added == 2
    assert "newbie" in root.users
    assert eng.members.get("newbie").role == "member"
    assert eng.members.get("bob").role == "manager"
    assert eng.members.get("mary").role == "manager"  # already a member: skipped
    assert root.index.paths("newbie") == ["/groups/eng"]
    assert roles_in_index(root, "bob") == [("/groups/eng", "manager")]
    actions = sorted(event.action for event in events_after(root, seen))
    assert actions == ["members.imported", "users.imported"]


def test_imported_memberships_are_added_by_the_script(root, eng):
    import_members(script(root, "import_members"), eng, [("newbie", "member"), ("bob", "member")])
    assert eng.members.get("newbie").added_by == "system:import_members"
    assert eng.members.get("bob").added_by == "system:import_members"
    assert eng.members.get("bob").source == "import"


def test_import_events_carry_counts(root, eng):
    seen = event_ids(root)
    import_members(script(root, "import_members"), eng, [("n1", "member"), ("n2", "manager")])
    events = {event.action: event for event in events_after(root, seen)}
    assert events["users.imported"].after == {"created": 2}
    assert events["members.imported"].after == {
        "added": 2,
        "roles": {"member": 1, "manager": 1},
        "added_by": "system:import_members",
    }
    assert {event.actor for event in events.values()} == {"system:import_members"}


def test_import_of_owner_by_a_manager_is_not_permitted(root, eng):
    with pytest.raises(NotPermitted):
        import_members(as_user(root, "mary"), eng, [("bob", "owner")])
