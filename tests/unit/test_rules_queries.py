"""Questions about membership: hidden subgroups stay hidden, expired memberships drop out."""

from datetime import UTC, datetime, timedelta

import pytest
from pyramid.authorization import Allow, Deny

from membership import clock
from membership.domain import Actor, acl
from membership.domain.groups import create_group
from membership.domain.members import add_member
from membership.domain.queries import (
    effective_member_ids,
    effective_membership,
    groups_of,
    member_rows,
    principals_for,
)
from membership.domain.users import create_user

ENG = "/groups/eng"
HIDDEN = "/groups/eng/groups/hidden"
OPEN = "/groups/eng/groups/open"


@pytest.fixture
def eng(root, system):
    """/groups/eng with subgroups hidden (Deny view to alice) and open.

    alice and dave are direct members of eng, carol is only in hidden,
    frank is in hidden and in open.
    """
    for userid in ("alice", "carol", "dave", "frank"):
        create_user(system, userid)
    group = create_group(system, root.groups, "eng")
    hidden = create_group(system, group.groups, "hidden")
    opened = create_group(system, group.groups, "open")
    add_member(system, group, "alice")
    add_member(system, group, "dave")
    add_member(system, hidden, "carol")
    add_member(system, hidden, "frank")
    add_member(system, opened, "frank")
    new = acl.parse_entries(root, [(Deny, "user:alice", ["view"])], "entries")
    acl.set_acl(system, hidden, new, lambda ace: "entries")
    return group


@pytest.fixture
def alice_sees(root, eng):
    actor = Actor.user(root, "alice")
    assert actor.may("view", eng) and not actor.may("view", eng.groups["hidden"])
    return lambda group: actor.may("view", group)


def test_members_only_through_a_hidden_subgroup_are_not_listed(root, eng, alice_sees):
    assert list(effective_member_ids(root, eng, may_view=alice_sees)) == ["alice", "dave", "frank"]


def test_members_through_a_subgroup_are_listed_to_whoever_sees_it(root, eng):
    assert list(effective_member_ids(root, eng)) == ["alice", "carol", "dave", "frank"]


def test_membership_only_through_a_hidden_subgroup_is_none(root, eng, alice_sees):
    assert effective_membership(root, ENG, "carol", alice_sees) is None
    assert effective_membership(root, ENG, "carol").via == HIDDEN


def test_via_never_names_a_hidden_subgroup(root, eng, alice_sees):
    assert effective_membership(root, ENG, "frank", alice_sees).via == OPEN
    assert effective_membership(root, ENG, "frank").via == HIDDEN


def test_groups_of_leaves_out_hidden_subgroup(root, eng, alice_sees):
    rows, more = groups_of(root, "frank", limit=10, may_view=alice_sees)
    assert [(row.path, row.direct, row.via) for row in rows] == [
        (ENG, False, OPEN),
        (OPEN, True, None),
    ]
    assert not more
    assert groups_of(root, "carol", limit=10, may_view=alice_sees) == ([], False)


def test_groups_of_direct_only_leaves_out_hidden_subgroup(root, eng, alice_sees):
    rows, _ = groups_of(root, "frank", direct_only=True, limit=10, may_view=alice_sees)
    assert [row.path for row in rows] == [OPEN]
    rows, _ = groups_of(root, "frank", direct_only=True, limit=10)
    assert [row.path for row in rows] == [HIDDEN, OPEN]


def test_visible_group_below_a_hidden_one_still_counts(root, system, eng, alice_sees):
    lit = create_group(system, eng.groups["hidden"].groups, "lit")
    new = acl.parse_entries(root, [(Allow, "user:alice", ["view"])], "entries")
    acl.set_acl(system, lit, new, lambda ace: "entries")
    create_user(system, "grace")
    add_member(system, lit, "grace")
    assert "grace" in effective_member_ids(root, eng, may_view=alice_sees)
    assert effective_membership(root, ENG, "grace", alice_sees).via == lit.path
    assert effective_membership(root, HIDDEN, "grace", alice_sees) is None


# expiry


@pytest.fixture
def now():
    """A controllable clock: ``now[0]`` is the time; the real clock comes back after."""
    moment = [datetime.now(UTC)]
    clock.set_clock(lambda: moment[0])
    try:
        yield moment
    finally:
        clock.set_clock(None)


@pytest.fixture
def expiring(root, system, now):
    """bob is in /groups/eng until an hour from now; carol for good."""
    create_user(system, "bob")
    create_user(system, "carol")
    group = create_group(system, root.groups, "eng")
    add_member(system, group, "bob", expires_at=now[0] + timedelta(hours=1))
    add_member(system, group, "carol")
    return group


def rows(group, with_expired):
    found = member_rows(group.members, role=None, prefix="", after=None, with_expired=with_expired)
    return [userid for userid, _ in found]


def test_membership_grants_until_it_expires(root, expiring, now):
    now[0] += timedelta(minutes=59)
    assert "group:/groups/eng" in principals_for(root, "bob")
    assert rows(expiring, with_expired=False) == ["bob", "carol"]


def test_expired_membership_drops_out_of_principals_at_the_instant(root, expiring, now):
    now[0] += timedelta(hours=1)
    assert principals_for(root, "bob") == ["system.Everyone", "system.Authenticated", "user:bob"]


def test_expired_membership_drops_out_of_member_rows(root, expiring, now):
    now[0] += timedelta(hours=2)
    assert rows(expiring, with_expired=False) == ["carol"]


def test_expired_membership_stays_in_member_rows_with_expired(root, expiring, now):
    now[0] += timedelta(hours=2)
    assert rows(expiring, with_expired=True) == ["bob", "carol"]


def test_expired_membership_drops_out_of_effective_members_and_groups(root, expiring, now):
    now[0] += timedelta(hours=2)
    assert list(effective_member_ids(root, expiring)) == ["carol"]
    assert groups_of(root, "bob", limit=10) == ([], False)
