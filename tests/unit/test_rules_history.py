"""History belongs to the object: a group or user recreated under a reused name starts empty."""

from membership.domain.groups import create_group, delete_group, move_group
from membership.domain.members import add_member
from membership.domain.users import create_user, delete_user, update_user

from .conftest import as_user


def object_events(root, key) -> list:
    sources = root.history.object_sources(key)
    return sorted(root.history.newest_first(sources=sources), key=lambda event: event.id)


def test_recreated_group_has_a_new_history_key(root, system):
    create_user(system, "alice")
    old = create_group(as_user(root, "alice"), root.groups, "eng")
    old_key = old.history_key
    delete_group(system, old)
    new = create_group(system, root.groups, "eng")
    assert new.history_key != old_key


def test_recreated_group_history_holds_only_its_own_events(root, system):
    create_user(system, "alice")
    create_user(system, "bob")
    old = create_group(as_user(root, "alice"), root.groups, "eng")
    add_member(system, old, "bob")
    delete_group(system, old)
    new = create_group(system, root.groups, "eng")
    add_member(system, new, "bob", "manager")
    events = object_events(root, new.history_key)
    assert [(e.action, e.target) for e in events] == [
        ("group.created", "/groups/eng"),
        ("membership.created", "/groups/eng/members/bob"),
    ]
    assert events[1].after["role"] == "manager"


def test_deleted_group_history_stays_under_its_own_key(root, system):
    create_user(system, "bob")
    old = create_group(system, root.groups, "eng")
    old_key = old.history_key
    add_member(system, old, "bob")
    delete_group(system, old)
    add_member(system, create_group(system, root.groups, "eng"), "bob")
    actions = [e.action for e in object_events(root, old_key)]
    assert actions == ["group.created", "membership.created", "group.deleted"]


def test_moved_group_keeps_its_history(root, system):
    eng = create_group(system, root.groups, "eng")
    ops = create_group(system, root.groups, "ops")
    move_group(system, eng, ops.path)
    actions = [e.action for e in object_events(root, eng.history_key)]
    assert actions == ["group.created", "group.moved"]


def test_recreated_user_history_holds_only_its_own_events(root, system):
    old = create_user(system, "bob", display_name="Old Bob")
    update_user(system, old, display_name="Older Bob")
    old_key = old.history_key
    delete_user(system, old)
    new = create_user(system, "bob")
    assert new.history_key != old_key
    assert [e.action for e in object_events(root, new.history_key)] == ["user.created"]
    assert [e.action for e in object_events(root, old_key)] == [
        "user.created",
        "user.changed",
        "user.deleted",
    ]
