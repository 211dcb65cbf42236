"""Conflicts, deterministically and in-process: replayed, then 503 problem+json.

The multi-process suites (test_zeo, test_relstorage) provoke real conflicts
between processes; here every commit is made to conflict on demand, so the
two outcomes are certain: a conflict within ``retry.attempts`` is invisible
to the client, and one that outlives them is a 503 with ``Retry-After``.
"""

import pytest
import transaction
from ZEO.Exceptions import ClientDisconnected
from ZODB.POSException import ConflictError

ATTEMPTS = 3


@pytest.fixture
def settings(settings):
    return {**settings, "retry.attempts": str(ATTEMPTS)}


@pytest.fixture
def failing_commits(monkeypatch):
    """Make the next ``n`` commits of any transaction raise ``error``; count them all."""
    state = {"fail": 0, "error": ConflictError, "commits": 0}
    real_commit = transaction.TransactionManager.commit

    def commit(self):
        state["commits"] += 1
        if state["fail"] > 0:
            state["fail"] -= 1
            raise state["error"]()
        return real_commit(self)

    monkeypatch.setattr(transaction.TransactionManager, "commit", commit)
    return state


def test_a_conflict_within_the_attempts_is_replayed_unseen(api, failing_commits):
    failing_commits["fail"] = ATTEMPTS - 1
    res = api.post("/users", {"id": "carol"})
    assert res.status_int == 201, res.text
    assert failing_commits["commits"] == ATTEMPTS
    assert api.get("/users/carol").status_int == 200


def test_a_conflict_after_the_last_attempt_is_503_problem_json(api, failing_commits):
    failing_commits["fail"] = ATTEMPTS
    res = api.post("/users", {"id": "carol"})
    assert res.status_int == 503
    assert res.content_type == "application/problem+json"
    assert res.headers["Retry-After"] == "1"
    assert res.json["status"] == 503
    assert "Traceback" not in res.text
    assert failing_commits["commits"] == ATTEMPTS
    assert api.get("/users/carol").status_int == 404


def test_a_storage_that_stays_away_is_503_problem_json(api, failing_commits):
    failing_commits.update(fail=ATTEMPTS, error=ClientDisconnected)
    res = api.post("/users", {"id": "carol"})
    assert res.status_int == 503
    assert res.content_type == "application/problem+json"
    assert res.headers["Retry-After"]
    assert "Traceback" not in res.text
