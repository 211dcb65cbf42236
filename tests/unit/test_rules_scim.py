"""The rules SCIM relies on, without HTTP: ids from userNames, the directory of
lookups kept by its subscriber, and the checkpoints that make index paging cheap."""

from membership.domain import groups, users
from membership.scim import listing

from .conftest import script


def test_new_user_ids_are_slugs_with_a_suffix_or_uuids(system):
    assert users.new_user_id(system.root, "Ann.Lee@Example.com") == "ann.lee-example.com"
    users.create_user(system, "ann.lee-example.com", user_name="someone-else")
    assert users.new_user_id(system.root, "Ann.Lee@Example.com") == "ann.lee-example.com-2"
    assert users.new_user_id(system.root, "!!!") == "user"
    assert len(users.new_user_id(system.root, "x", mode="uuid")) == 36


def test_the_directory_follows_user_changes_and_deletions(system):
    user = users.create_user(
        system, "ann", user_name="Ann", external_id="e1", emails=[("a@x.example", "work", True)]
    )
    root = system.root
    assert users.user_by_name(root, "ANN") is user
    assert users.users_by_external_id(root, "e1") == [user]
    assert users.users_by_email(root, "A@X.example") == [user]
    users.update_user(system, user, user_name="Annie", external_id=None, emails=[])
    assert users.user_by_name(root, "ann") is None
    assert users.user_by_name(root, "annie") is user
    assert users.users_by_external_id(root, "e1") == []
    assert users.users_by_email(root, "a@x.example") == []
    users.delete_user(system, user)
    assert users.user_by_name(root, "annie") is None


def test_the_directory_follows_group_titles_and_external_ids(system):
    root = system.root
    outer = groups.create_group(system, root.groups, "outer", title="Outer", external_id="g1")
    inner = groups.create_group(system, outer.groups, "inner", title="Inner", external_id="g2")
    assert root.directory.groups_by_title("OUTER") == [outer.id]
    groups.update_group(system, outer, title="Renamed")
    assert root.directory.groups_by_title("outer") == []
    assert root.directory.groups_by_title("renamed") == [outer.id]
    groups.delete_group(system, outer)
    assert root.directory.groups_by_title("inner") == []
    assert root.directory.groups_by_external_id("g1") == []
    assert root.directory.groups_by_external_id("g2") == [] and inner.external_id == "g2"


def test_set_active_needs_provision_and_spares_the_last_admin(root, admin):
    import pytest

    from membership.domain.errors import NotPermitted, Refused

    from .conftest import as_user

    users.create_user(script(root), "bob")
    bob = root.users["bob"]
    with pytest.raises(NotPermitted):
        users.set_active(as_user(root, "bob"), bob, False)
    users.set_active(admin, bob, False)
    assert bob.active is False
    with pytest.raises(Refused):
        users.set_active(admin, root.users["admin"], False)


class Counting:
    """A key walk that counts the keys it hands out."""

    def __init__(self, n: int) -> None:
        self.keys = [f"k{i:06d}" for i in range(n)]
        self.read = 0

    def __call__(self, after):
        start = 0 if after is None else self.keys.index(after) + 1
        for key in self.keys[start:]:
            self.read += 1
            yield key


def test_a_sequential_walk_reads_each_key_once():
    walk = Counting(10_000)
    listing.CHECKPOINTS = listing.Checkpoints()
    seen = []
    for start in range(1, 10_001, 100):
        seen += listing.index_page(walk, ("test", 1), start, 100)
    assert seen == walk.keys
    assert walk.read == 10_000  # not the 500,000 an offset walk reads


def test_a_page_without_a_checkpoint_still_answers_from_the_nearest_one():
    walk = Counting(1_000)
    listing.CHECKPOINTS = listing.Checkpoints()
    assert listing.index_page(walk, ("test", 1), 501, 10) == walk.keys[500:510]
    walk.read = 0
    assert listing.index_page(walk, ("test", 1), 511, 10) == walk.keys[510:520]
    assert walk.read == 10  # from the checkpoint at 510
    walk.read = 0
    assert listing.index_page(walk, ("test", 1), 531, 10) == walk.keys[530:540]
    assert walk.read == 20  # counted on from the nearest checkpoint (520)
    assert listing.index_page(walk, ("test", 2), 511, 10) == walk.keys[510:520]


def test_a_checkpoint_keeps_the_earlier_key_while_fresh():
    """Two walkers ending the same position differently (writes between their pages):
    the earlier key stays, so neither skips a resource; a stale one gives way."""
    marks = listing.Checkpoints()
    marks.mark(("w",), 100, "k000100", now=0.0)
    marks.mark(("w",), 100, "k000150", now=1.0)
    assert marks.nearest(("w",), 100) == (100, "k000100")
    marks.mark(("w",), 100, "k000050", now=2.0)
    assert marks.nearest(("w",), 100) == (100, "k000050")
    marks.mark(("w",), 100, "k000150", now=2.0 + listing.MARK_SECONDS)
    assert marks.nearest(("w",), 100) == (100, "k000150")


def test_filters_pick_index_candidates():
    from scim2_models import ScimFilter

    from membership.scim.models import User

    lookups = {"username": lambda v: [v.lower()], "externalid": lambda v: ["x-" + v]}

    def pick(text):
        return listing.candidates(ScimFilter[User](text).ast, lookups)

    assert pick('userName eq "Ann"') == ["ann"]
    assert pick('userName eq "Ann" and active eq true') == ["ann"]
    assert pick('userName eq "a" or externalId eq "b"') == ["a", "x-b"]
    assert pick('userName eq "a" or active eq true') is None
    assert pick('displayName co "a"') is None
