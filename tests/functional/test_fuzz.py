"""Schemathesis over every operation of /openapi.json, in process (WSGI), as an admin.

Positive and negative examples per operation, bounded so the whole run takes a
few minutes on two cores. The checks: no 5xx, only documented status codes and
media types, bodies and headers that match the declared schemas. Whatever it
found once is kept as a plain regression test in ``test_fuzz_findings.py``.
"""

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from webtest import TestApp

import membership
from membership.scripts.initialize import ensure_admin
from membership.web.db import database

from .conftest import TEST_SETTINGS, script_context, with_root
from .helpers import ADMIN, PASSWORD, basic, bearer

MAX_EXAMPLES = 60

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

pytestmark = pytest.mark.slow


def make_app():
    settings = {
        **TEST_SETTINGS,
        # The fuzzer fails logins on purpose (it probes auth); keep it out of the 429s.
        "membership.throttle.per_address": "1000000",
        "membership.throttle.per_user": "1000000",
    }
    wsgi = membership.main({}, **settings)
    db = database(wsgi.registry)
    with_root(db, lambda root: ensure_admin(script_context(root, wsgi.registry), ADMIN, PASSWORD))
    return wsgi


# Built at import: schemathesis' lazy fixture loader does not work with pytest 9.
APP = make_app()
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)
# Unknown query parameters are ignored by design (README), not rejected.
schema.config.generation.update(allow_extra_parameters=False)


@pytest.fixture(scope="module")
def admin_token():
    """A Bearer token: it survives the fuzzer changing the admin's password."""
    res = TestApp(APP).post_json(
        f"/users/{ADMIN}/tokens", {"name": "fuzz"}, headers=basic(ADMIN), status=201
    )
    return res.json["token"]


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_conforms(case, admin_token):
    case.call_and_validate(headers=bearer(admin_token), checks=CHECKS)
