"""``POST /checks``: many membership and permission questions in one request.

Cast: /groups/eng with subgroups ``backend`` (bob) and ``secret`` (sam; a
Deny hides it from eng's members), /groups/ops (olivia) which alice cannot
see. alice is a member of eng, carol its owner.
"""

import pytest

from .helpers import ADMIN, bearer

ENG = "/groups/eng"
BACKEND = f"{ENG}/groups/backend"
SECRET = f"{ENG}/groups/secret"
OPS = "/groups/ops"


@pytest.fixture
def world(api):
    for path in (ENG, BACKEND, SECRET, OPS):
        api.group(path)
    for user in ("alice", "bob", "carol", "sam", "olivia"):
        api.user(user)
    api.member(ENG, "alice")
    api.member(ENG, "carol", "owner")
    api.member(BACKEND, "bob", "manager")
    api.member(SECRET, "sam")
    api.member(OPS, "olivia")
    deny = {"action": "Deny", "principal": f"group:{ENG}#member", "permissions": ["view"]}
    api.put(f"{SECRET}/acl", {"entries": [deny]}, status=200)
    return api


def check(api, items, as_=ADMIN, status=200):
    return api.post("/checks", {"items": items}, as_=as_, status=status)


def test_an_admin_gets_an_answer_to_every_question_in_order(world):
    items = [
        {"user": "alice", "group": ENG},
        {"user": "bob", "group": ENG},
        {"user": "bob", "group": ENG, "effective": True},
        {"user": "sam", "group": ENG, "effective": True},
        {"user": "olivia", "group": OPS},
        {"user": "alice", "group": OPS, "effective": True},
    ]
    answers = check(world, items).json["items"]
    assert answers == [
        {"member": True, "group": ENG, "direct": True, "role": "member"},
        {"member": False, "group": ENG},
        {"member": True, "group": ENG, "direct": False, "via": BACKEND},
        {"member": True, "group": ENG, "direct": False, "via": SECRET},
        {"member": True, "group": OPS, "direct": True, "role": "member"},
        {"member": False, "group": OPS},
    ]


def test_a_member_asking_about_a_group_they_cannot_see_gets_forbidden_items(world):
    items = [
        {"user": "olivia", "group": OPS},
        {"user": "bob", "group": ENG, "effective": True},
        {"user": "sam", "group": SECRET},
        {"user": "alice", "permission": "view", "path": OPS},
    ]
    answers = check(world, items, as_="alice").json["items"]
    assert answers[0] == {
        "error": "forbidden",
        "field": "group",
        "detail": f"you may not view {OPS}",
    }
    assert answers[1] == {"member": True, "group": ENG, "direct": False, "via": BACKEND}
    assert answers[2]["error"] == "forbidden"
    assert answers[3]["error"] == "forbidden" and answers[3]["field"] == "path"


def test_an_effective_answer_never_comes_through_a_hidden_subgroup(world):
    items = [{"user": "sam", "group": ENG, "effective": True}]
    assert check(world, items, as_="alice").json["items"] == [{"member": False, "group": ENG}]
    assert check(world, items).json["items"][0]["via"] == SECRET  # the admin sees it


def test_groups_by_id_and_unknown_names(world):
    eng_id = world.get(ENG).json["id"]
    ops_id = world.get(OPS).json["id"]
    items = [
        {"user": "alice", "group": eng_id},
        {"user": "olivia", "group": ops_id},
        {"user": "alice", "group": "/groups/nothing"},
        {"user": "nobody", "group": ENG},
        {"user": "alice", "group": "0b7c8d46-0000-4a57-9f5e-2d3c1b0a9e87"},
    ]
    answers = check(world, items, as_="alice").json["items"]
    assert answers[0] == {"member": True, "group": ENG, "direct": True, "role": "member"}
    # by id, a group alice may not view is not told apart from no group at all
    assert answers[1]["error"] == "not_found" and answers[1]["field"] == "group"
    assert answers[2]["error"] == "not_found" and answers[2]["field"] == "group"
    assert answers[3] == {
        "error": "not_found",
        "field": "user",
        "detail": "there is no user 'nobody'",
    }
    assert answers[4]["error"] == "not_found"
    assert check(world, items[1:2]).json["items"][0]["member"] is True  # the admin may


def test_permission_answers_name_the_ace_that_decided(world):
    items = [
        {"user": "carol", "permission": "manage-acl", "path": BACKEND},
        {"user": "bob", "permission": "manage-members", "path": BACKEND},
        {"user": "bob", "permission": "edit", "path": BACKEND},
        {"principal": f"group:{ENG}", "permission": "view", "path": ENG},
        {"principal": "system.Everyone", "permission": "view", "path": "/"},
    ]
    answers = check(world, items).json["items"]
    assert answers[0] == {
        "allowed": True,
        "decided_by": {
            "action": "Allow",
            "principal": f"group:{ENG}#owner",
            "permissions": answers[0]["decided_by"]["permissions"],
            "node": ENG,
            "builtin": True,
        },
    }
    assert answers[1]["allowed"] is True
    assert answers[1]["decided_by"]["principal"] == f"group:{BACKEND}#manager"
    assert answers[2] == {"allowed": False, "decided_by": None}
    assert answers[3]["allowed"] is True and answers[3]["decided_by"]["node"] == ENG
    assert answers[4] == {"allowed": False, "decided_by": None}


def test_permission_questions_about_others_need_manage_acl(world):
    """alice may ask about herself where she may view; about bob only where she holds
    manage-acl, as GET …/permissions?principal= (carol, eng's owner, does)."""
    items = [
        {"user": "alice", "permission": "view", "path": ENG},
        {"principal": "user:alice", "permission": "edit", "path": ENG},
        {"user": "bob", "permission": "view", "path": ENG},
    ]
    answers = check(world, items, as_="alice").json["items"]
    assert answers[0]["allowed"] is True
    assert answers[1] == {"allowed": False, "decided_by": None}
    assert answers[2]["error"] == "forbidden"
    assert "manage-acl" in answers[2]["detail"]
    answers = check(world, items, as_="carol").json["items"]
    assert [a.get("allowed") for a in answers] == [True, False, True]


def test_a_read_scoped_token_may_ask_and_a_provision_token_may_not(world):
    read = world.token("alice", scopes=["read"])
    res = world.post(
        "/checks", {"items": [{"user": "alice", "group": ENG}]}, as_=bearer(read), status=200
    )
    assert res.json["items"][0]["member"] is True
    provision = world.token("alice", scopes=["provision"])
    res = world.post("/checks", {"items": [{"user": "alice", "group": ENG}]}, as_=bearer(provision))
    assert res.status_int == 403
    assert 'error="insufficient_scope"' in res.headers["WWW-Authenticate"]


def test_anonymous_callers_are_asked_to_log_in(world):
    res = world.post("/checks", {"items": [{"user": "alice", "group": ENG}]}, as_=None)
    assert res.status_int == 401


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"user": "alice"}, "items.3.group"),
        ({"user": "alice", "group": 5}, "items.3.group"),
        ({"user": "Alice!", "group": ENG}, "items.3.user"),
        ({"user": "alice", "group": ENG, "effective": "yes"}, "items.3.effective"),
        ({"user": "alice", "group": ENG, "colour": "red"}, "items.3.colour"),
        ({"user": "alice", "permission": "fly", "path": ENG}, "items.3.permission"),
        ({"permission": "view", "path": ENG}, "items.3.principal"),
        (
            {"user": "a", "principal": "user:a", "permission": "view", "path": ENG},
            "items.3.principal",
        ),
        ({"principal": "alice", "permission": "view", "path": ENG}, "items.3.principal"),
        ({"user": "alice", "permission": "view"}, "items.3.path"),
        ("alice", "items.3"),
    ],
)
def test_a_malformed_item_is_a_400_naming_it(world, item, field):
    items = [{"user": "alice", "group": ENG}] * 3 + [item]
    res = check(world, items, status=400)
    assert res.content_type == "application/problem+json"
    assert res.json["item"] == 3
    assert field in [error["field"] for error in res.json["errors"]]


def test_limits(world):
    assert check(world, [], status=400).json["errors"][0]["field"] == "items"
    many = [{"user": "alice", "group": ENG}] * 1001
    res = check(world, many, status=400)
    assert res.json["errors"][0]["field"] == "items"
    answers = check(world, many[:1000]).json["items"]
    assert len(answers) == 1000 and all(a["member"] for a in answers)
    assert world.post("/checks", {"questions": []}, status=400).json["errors"][0]["field"] in (
        "items",
        "questions",
    )


def test_checks_answers_only_post(world):
    res = world.request("OPTIONS", "/checks", status=204)
    assert res.headers["Allow"] == "OPTIONS, POST"
    res = world.get("/checks", status=405)
    assert res.headers["Allow"] == "OPTIONS, POST"


@pytest.mark.no_spec_check  # /metrics is not part of the documented API
def test_batch_checks_are_counted_under_their_route(world, testapp):
    from .test_metrics import delta, scrape

    before = scrape(testapp)
    check(world, [{"user": "alice", "group": ENG}])
    after = scrape(testapp)
    name = "membership_http_requests_total"
    assert delta(before, after, name, method="POST", route="/checks", status="200") == 1


def test_a_batch_commits_nothing(world, app):
    """Answered as a read: no transaction is committed (and so nothing written)."""
    from membership.web.db import database

    db = database(app.registry)
    before = db.lastTransaction()
    check(world, [{"user": "alice", "group": ENG}] * 10)
    assert db.lastTransaction() == before
