"""The membership check's hand-built body is byte for byte what the generic encoder gives.

``membership_json`` replaces ``dumps(membership_body(...))`` on the hot path;
clients, ETags and ``If-Match`` on a later PATCH (which hashes
``membership_body``) depend on the two never drifting apart.
"""

from datetime import UTC, datetime, timedelta

import pytest

from membership import clock
from membership.domain.groups import create_group
from membership.domain.members import add_member
from membership.domain.users import create_user
from membership.web.rendering import dumps, etag_for, json_string
from membership.web.request import MembershipRequest
from membership.web.views.members import membership_body, membership_json

from .conftest import script

AWKWARD = ["", "plain", 'quote " and \\ backslash', "tab\tnewline\n", "é ü 東京 😀", "\x00\x1f\x7f"]


@pytest.mark.parametrize("value", [*AWKWARD, None])
def test_json_string_is_what_dumps_writes(value):
    assert json_string(value).encode() == dumps(value)


@pytest.fixture
def nested(root, system):
    """/groups/eng/groups/backend with bob in it, and eng itself."""
    create_user(system, "bob")
    eng = create_group(system, root.groups, "eng")
    backend = create_group(system, eng.groups, "backend")
    return eng, backend


@pytest.mark.parametrize("where", ["eng", "backend"])
@pytest.mark.parametrize(
    ("role", "expires_in", "source"),
    [
        ("member", None, None),
        ("manager", timedelta(days=3), "scim"),
        ("owner", timedelta(days=-1), 'an "odd" source é'),
    ],
)
def test_check_body_equals_the_generic_body(root, nested, where, role, expires_in, source):
    eng, backend = nested
    group = eng if where == "eng" else backend
    expires_at = None if expires_in is None else datetime.now(UTC) + timedelta(days=1)
    add_member(
        script(root, 'the "importer"'), group, "bob", role, expires_at=expires_at, source=source
    )
    if expires_in is not None:
        # Past expiries are refused on add; move the clock instead, as the check would see it.
        group.members.set_expiry(group.members["bob"], datetime.now(UTC) + expires_in)
    membership = group.members["bob"]
    request = MembershipRequest.blank("/", base_url="https://members.example:8443/api")

    hand_built = membership_json(request, membership)

    generic = membership_body(request, membership)
    assert hand_built == dumps(generic)
    assert etag_for(hand_built) == etag_for(generic)  # what If-Match compares with
    assert generic["links"]["group"] == "https://members.example:8443/api" + group.path
    assert generic["expired"] is (expires_in is not None and expires_in < timedelta(0))
    assert clock.rfc3339(membership.added_at) == generic["added_at"]
