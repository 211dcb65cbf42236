"""Batch checks as the domain answers them, without a request: a script, a test or a
front end asks ``answer_checks`` with a ``Context``."""

import pytest
from pyramid.authorization import Allow, Deny

from membership.domain import Actor, Context, acl
from membership.domain.checks import (
    MAX_QUESTIONS,
    MembershipAnswer,
    MembershipQuestion,
    PermissionAnswer,
    PermissionQuestion,
    Unanswered,
    answer_checks,
)
from membership.domain.errors import InvalidValue
from membership.domain.groups import create_group
from membership.domain.members import add_member
from membership.domain.users import create_user

from .conftest import as_user

ENG = "/groups/eng"
HIDDEN = "/groups/eng/groups/hidden"


@pytest.fixture
def eng(root, system):
    for userid in ("alice", "carol"):
        create_user(system, userid)
    group = create_group(system, root.groups, "eng")
    hidden = create_group(system, group.groups, "hidden")
    add_member(system, group, "alice")
    add_member(system, hidden, "carol")
    deny = acl.parse_entries(root, [(Deny, "user:alice", ["view"])], "entries")
    acl.set_acl(system, hidden, deny, lambda ace: "entries")
    return group


def test_a_script_gets_every_answer(system, eng):
    answers = answer_checks(
        system,
        [
            MembershipQuestion("carol", ENG, effective=True),
            MembershipQuestion("carol", eng.id),
            PermissionQuestion("user:alice", "view", HIDDEN),
        ],
    )
    assert answers[0] == MembershipAnswer(True, ENG, False, None, HIDDEN)
    assert answers[1] == MembershipAnswer(False, ENG)
    assert answers[2].allowed is False and answers[2].decided_by["action"] == Deny


def test_a_user_is_answered_only_what_they_may_see(root, eng):
    alice = as_user(root, "alice")
    answers = answer_checks(
        alice,
        [
            MembershipQuestion("carol", ENG, effective=True),
            MembershipQuestion("carol", HIDDEN),
            PermissionQuestion("user:alice", "view", ENG),
            PermissionQuestion("user:carol", "view", ENG),
        ],
    )
    assert answers[0] == MembershipAnswer(False, ENG)  # only through the hidden subgroup
    assert answers[1] == Unanswered("forbidden", "group", f"you may not view {HIDDEN}")
    assert answers[2] == PermissionAnswer(True, answers[2].decided_by)
    assert answers[3].error == "forbidden"  # about someone else: manage-acl, not view


def test_an_oauth_client_asks_where_an_ace_lets_it(root, system, eng):
    grant = acl.parse_entries(root, [(Allow, "client:reporting", ["view"])], "entries")
    acl.set_acl(system, eng, grant, lambda ace: "entries")
    client = Context(root, Actor.oauth_client("reporting"))
    answers = answer_checks(
        client,
        [
            MembershipQuestion("alice", ENG),
            PermissionQuestion("client:reporting", "view", ENG),
            PermissionQuestion("client:reporting", "edit", "/"),
        ],
    )
    assert answers[0].member is True
    assert answers[1].allowed is True
    assert answers[2].error == "forbidden"


def test_questions_that_cannot_be_asked_are_errors_naming_the_item(system, eng):
    with pytest.raises(InvalidValue) as caught:
        answer_checks(system, [MembershipQuestion("alice", ENG)] * (MAX_QUESTIONS + 1))
    assert caught.value.subject == "items"
    with pytest.raises(InvalidValue) as caught:
        answer_checks(
            system, [MembershipQuestion("alice", ENG), PermissionQuestion("bob", "view", ENG)]
        )
    assert caught.value.subject == "items.1.principal" and caught.value.facts["item"] == 1
