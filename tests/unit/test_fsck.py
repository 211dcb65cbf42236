"""``membership.domain.consistency`` and ``membership_fsck``: a tree built through the
domain is consistent; each kind of damage injected into the model is found, and
``repair`` leaves a tree that checks clean (or says what it cannot fix)."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import transaction
from pyramid.authorization import Allow
from ZODB import DB
from ZODB.FileStorage import FileStorage

from membership.domain import consistency as fsck
from membership.domain.acl import set_acl
from membership.domain.groups import create_group
from membership.domain.members import add_member
from membership.domain.setup import ROOT_KEY
from membership.domain.tokens import create_token
from membership.domain.users import create_user
from membership.model import Group, group_at

from .conftest import script

ENG = "/groups/eng"
BACKEND = "/groups/eng/groups/backend"
OPS = "/groups/ops"
BIN = Path(sys.executable).parent


def ace(principal: str) -> tuple:
    return (Allow, principal, ("view",))


@pytest.fixture
def tree(root, system):
    """Users, nested groups, roles, an expiry, ACEs on every kind of node, tokens."""
    for userid in ("alice", "bob", "carol"):
        create_user(system, userid)
    eng = create_group(system, root.groups, "eng")
    backend = create_group(system, eng.groups, "backend")
    ops = create_group(system, root.groups, "ops")
    add_member(system, eng, "alice", "owner")
    add_member(system, eng, "bob")
    add_member(system, backend, "bob", "manager")
    add_member(system, ops, "carol", expires_at=datetime.now(UTC) + timedelta(days=3))
    add_member(system, ops, "bob")
    set_acl(system, root, [ace("system.Authenticated")], str)
    set_acl(system, backend, [ace("user:carol"), ace(f"group:{OPS}#member")], str)
    set_acl(system, root.users["alice"], [ace("user:bob")], str)
    create_token(system, root.users["alice"], name="ci")
    create_token(system, root.users["bob"], name="cli")
    assert fsck.check(root) == []
    return root


def kinds(findings) -> set[str]:
    return {finding.kind for finding in findings}


def repaired(root, system, expected_kind: str) -> list[str]:
    """Check finds ``expected_kind``; repair acts; a second check is clean."""
    findings = fsck.check(root)
    assert expected_kind in kinds(findings), findings
    assert all(f.repairable for f in findings), findings
    done = fsck.repair(system, findings)
    assert done
    assert fsck.check(root) == []
    return done


def test_a_tree_built_through_the_domain_is_consistent(tree):
    assert fsck.check(tree) == []


def test_groups_a_thousand_deep_are_checked_and_repaired_without_recursion(root):
    """Built through the model: 1000 nested ``create_group`` calls take ~20 s (each reads
    and audits its whole lineage); the memberships still go through the domain."""
    system = script(root, max_depth=1000)
    create_user(system, "deep")
    container = root.groups
    for level in range(1000):
        group = container.attach(f"g{level}", Group("", ""))
        root.group_ids[group.id] = group
        root.directory.set_group_title(group.id, group.title)
        container = group.groups
    add_member(system, group, "deep")
    assert fsck.check(root) == []
    root.index.discard("deep", group.path)
    done = repaired(root, system, fsck.INDEX_MISSING)
    assert done == [f"index (deep, {group.path}): set to ('member', inf)"]


def test_index_entry_missing(tree, system):
    tree.index.discard("bob", ENG)
    repaired(tree, system, fsck.INDEX_MISSING)
    assert ENG in tree.index.paths("bob")


def test_index_entry_for_a_non_member(tree, system):
    tree.index.set("carol", BACKEND, "member", None)
    done = repaired(tree, system, fsck.INDEX_STALE)
    assert done == [f"index (carol, {BACKEND}): dropped (no such membership)"]


def test_index_entry_with_another_role_or_expiry(tree, system):
    tree.index.set("bob", ENG, "owner", None)
    tree.index.set("carol", OPS, "member", None)  # lost its expiry
    findings = fsck.check(tree)
    assert [f.where for f in findings if f.kind == fsck.INDEX_MISMATCH] == [
        f"{ENG}/members/bob",
        f"{OPS}/members/carol",
    ]
    repaired(tree, system, fsck.INDEX_MISMATCH)
    assert next(tree.index.entries("bob")).role == "member"


def test_membership_removed_without_the_index(tree, system):
    group_at(tree, BACKEND).members.remove("bob")
    repaired(tree, system, fsck.INDEX_STALE)
    assert BACKEND not in tree.index.paths("bob")


def test_by_role_and_counters(tree, system):
    eng = group_at(tree, ENG)
    eng.members.by_role.remove(("owner", "alice"))  # plain members have no pair to lose
    eng.members.by_role.add(("manager", "carol"))
    eng.members._count.change(5)
    tree.users._count.change(-1)
    eng.groups._count.change(1)
    findings = fsck.check(tree)
    assert {(f.kind, f.where) for f in findings} == {
        (fsck.BY_ROLE, f"{ENG}/members"),
        (fsck.COUNT, f"{ENG}/members"),
        (fsck.COUNT, "/users"),
        (fsck.COUNT, f"{ENG}/groups"),
    }
    fsck.repair(system, findings)
    assert fsck.check(tree) == []
    assert list(eng.members.user_ids(role="owner")) == ["alice"]
    assert list(eng.members.user_ids(role="member")) == ["bob"]
    assert len(eng.members) == 2 and len(tree.users) == 3


def test_acl_registry_entry_missing_wrong_or_stale(tree, system):
    tree.acl_nodes.pop(BACKEND)
    tree.acl_nodes["/"] = ("user:nobody",)
    tree.acl_nodes["/users/carol"] = ("user:bob",)
    findings = fsck.check(tree)
    assert {f.where for f in findings if f.kind == fsck.ACL_REGISTRY} == {
        BACKEND,
        "/",
        "/users/carol",
    }
    repaired(tree, system, fsck.ACL_REGISTRY)
    assert tree.acl_nodes[BACKEND] == (f"group:{OPS}#member", "user:carol")


def test_ace_naming_nobody_is_dropped_with_an_audit_event(tree, system):
    backend = group_at(tree, BACKEND)
    backend.set_local_acl([*backend.local_acl, ace("user:ghost"), ace("group:/groups/x/")])
    findings = fsck.check(tree)
    assert sorted(f.detail for f in findings if f.kind == fsck.ACE_PRINCIPAL) == [
        "'group:/groups/x/' is not a principal in canonical form",
        "user:ghost names no user",
    ]
    repaired(tree, system, fsck.ACE_PRINCIPAL)
    assert [p for _, p, _ in backend.local_acl] == ["user:carol", f"group:{OPS}#member"]
    last = list(tree.history.oldest_first(None))[-1]
    assert (last.actor, last.action, last.target) == ("system:test", "acl.changed", BACKEND)


def test_token_digest_bogus_or_missing(tree, system):
    tree.token_digests["0" * 64] = ("alice", "nope")
    token = tree.users["bob"].tokens.values()[0]
    tree.token_digests.pop(token.digest)
    findings = [f for f in fsck.check(tree) if f.kind == fsck.TOKEN_DIGEST]
    assert len(findings) == 2
    repaired(tree, system, fsck.TOKEN_DIGEST)
    assert tree.token_digests[token.digest] == ("bob", token.id)
    assert "0" * 64 not in tree.token_digests


def test_group_id_lost_or_missing(tree, system):
    eng, ops = group_at(tree, ENG), group_at(tree, OPS)
    tree.group_ids.pop(eng.id)
    ops.id = None  # group_ids still maps its old id to it
    findings = fsck.check(tree)
    assert {(f.kind, f.where) for f in findings} >= {
        (fsck.GROUP_ID_INDEX, ENG),
        (fsck.GROUP_ID_MISSING, OPS),
    }
    repaired(tree, system, fsck.GROUP_ID_MISSING)
    assert tree.group_ids[eng.id] is eng and tree.group_ids[ops.id] is ops
    assert ops.legacy_history[0] == OPS
    assert sum(1 for g in tree.group_ids.values() if g is ops) == 1


def test_memberships_of_a_user_detached_without_the_domain(tree, system):
    tree.users.detach("bob")  # memberships, index entries, token, ACE and registry remain
    findings = fsck.check(tree)
    assert {f.where for f in findings if f.kind == fsck.MEMBERSHIP_ORPHAN} == {
        f"{ENG}/members/bob",
        f"{BACKEND}/members/bob",
        f"{OPS}/members/bob",
    }
    assert {fsck.TOKEN_DIGEST, fsck.ACE_PRINCIPAL} <= kinds(findings)
    repaired(tree, system, fsck.MEMBERSHIP_ORPHAN)
    assert tree.index.paths("bob") == []
    eng = group_at(tree, ENG)
    assert list(eng.members.keys()) == ["alice"] and len(eng.members) == 1
    assert ("member", "bob") not in eng.members.by_role
    assert tree.users["alice"].local_acl == ()
    removed = [e for e in tree.history.oldest_first(None) if e.action == "membership.deleted"]
    assert {e.target for e in removed} == {
        f.where for f in findings if f.kind == "membership-orphan"
    }


def test_misplaced_nodes_are_put_back_where_they_sit(tree, system):
    backend = group_at(tree, BACKEND)
    backend.__name__ = "elsewhere"
    tree.users["carol"].__parent__ = None
    repaired(tree, system, fsck.NODE_MISPLACED)
    assert backend.path == BACKEND and tree.users["carol"].path == "/users/carol"


def test_an_unreachable_group_is_reported_not_repaired(tree, system):
    ops = tree.groups._items.pop(OPS.rpartition("/")[2])  # no count, index or ids updated
    findings = fsck.check(tree)
    unreachable = [f for f in findings if f.kind == fsck.GROUP_UNREACHABLE]
    assert len(unreachable) == 1 and not unreachable[0].repairable
    assert OPS in unreachable[0].detail
    fsck.repair(system, findings)
    left = fsck.check(tree)
    assert [f.kind for f in left] == [fsck.GROUP_UNREACHABLE]
    assert tree.group_ids[ops.id] is ops  # kept: the only way left to find it


def test_a_group_that_holds_itself_is_reported_once(tree):
    backend = group_at(tree, BACKEND)
    backend.groups._items["loop"] = backend
    findings = fsck.check(tree)
    assert (fsck.GROUP_DUPLICATE, f"{BACKEND}/groups/loop") in {(f.kind, f.where) for f in findings}


# --------------------------------------------------------------------------
# the console script, against a FileStorage


@pytest.fixture
def ini(tmp_path):
    path = tmp_path / "test.ini"
    path.write_text(
        "[app:main]\nuse = egg:membership\n"
        f"zodbconn.uri = file://{tmp_path}/Data.fs\n"
        "membership.argon2.time_cost = 1\nmembership.argon2.memory_cost = 8\n"
        "membership.argon2.parallelism = 1\n"
    )
    return path


def run(*argv, env=None) -> subprocess.CompletedProcess:
    """A console script of the virtualenv; the caller checks the exit status."""
    return subprocess.run(
        [str(BIN / argv[0]), *map(str, argv[1:])],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def damage(path: Path, change) -> None:
    """Open the FileStorage directly (no server has it) and commit ``change(root)``."""
    db = DB(FileStorage(str(path)))
    try:
        conn = db.open()
        change(conn.root()[ROOT_KEY])
        transaction.commit()
        conn.close()
    finally:
        db.close()


@pytest.mark.slow
def test_console_script_exit_codes_and_repair(ini, tmp_path):
    env = {**os.environ, "MEMBERSHIP_ADMIN_PASSWORD": "fsck-admin-password"}
    env.pop("MEMBERSHIP_ZODB_URI", None)
    assert run("initialize_membership_db", ini, env=env).returncode == 0
    clean = run("membership_fsck", ini, env=env)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.splitlines()[-1] == "0 inconsistencies found"

    damage(tmp_path / "Data.fs", lambda root: root.index.set("ghost", OPS, "member", None))
    found = run("membership_fsck", ini, env=env)
    assert found.returncode == 1, found.stderr
    assert found.stdout.splitlines() == [
        f"index-stale: {OPS}/members/ghost: index entry (member, inf) without a membership",
        "1 inconsistency found (1 repairable)",
    ]
    fixed = run("membership_fsck", ini, "--repair", env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"repaired: index (ghost, {OPS}): dropped (no such membership)" in fixed.stdout
    assert fixed.stdout.splitlines()[-1] == "after repair: 0 inconsistencies found"
    assert run("membership_fsck", ini, env=env).returncode == 0
    history = run("export_history", ini, env=env).stdout
    assert "system:membership_fsck" not in history  # an index entry is no audited change

    damage(tmp_path / "Data.fs", lambda root: create_group(script(root), root.groups, "ops"))
    damage(tmp_path / "Data.fs", lambda root: root.groups._items.pop("ops"))
    left = run("membership_fsck", ini, "--repair", env=env)
    assert left.returncode == 1, left.stdout + left.stderr
    assert "repaired: /groups: counter 2 -> 1" in left.stdout
    assert left.stdout.splitlines()[-2].startswith("group-unreachable: group_ids[")
    assert f"(last at {OPS})" in left.stdout.splitlines()[-2]
    assert left.stdout.splitlines()[-1] == "after repair: 1 inconsistency found (0 repairable)"


def test_directory_lookups_out_of_step(tree, system):
    from membership.domain.users import update_user

    update_user(system, tree.users["bob"], user_name="Bobby", external_id="e-1")
    tree.directory.user_names.pop("bobby")
    tree.directory.user_external_ids.add(("stale", "nobody"))
    tree.directory.set_group_title(tree.groups["eng"].id, "Wrong")
    done = repaired(tree, system, fsck.DIRECTORY)
    assert done == ["directory: rebuilt from the users and groups"]
    assert tree.directory.user_by_name("BOBBY") == "bob"
    assert tree.directory.users_by_external_id("stale") == []
