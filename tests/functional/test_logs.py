"""Log lines: text or JSON (``membership.log_format``), never a credential."""

import io
import json
import logging
import re

import pytest

from membership.web import logs

from .helpers import ADMIN, PASSWORD, basic, bearer


@pytest.fixture
def captured():
    """A handler on the root logger, as an ini's would be, made before the app installs
    its formats; the formats every handler had are put back afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    formats = {h: h.formatter for h in logs._handlers()}
    access = logging.getLogger("membership.access")
    level = access.level
    root.addHandler(handler)
    access.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    access.setLevel(level)
    for h, formatter in formats.items():
        h.setFormatter(formatter)
        h.removeFilter(logs._REDACTING)


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


class TestJson:
    @pytest.fixture
    def settings(self, settings):
        return {**settings, "membership.log_format": "json"}

    @pytest.fixture
    def records(self, captured, api):
        """(the stream, the api): the app exists, so the handler writes JSON now."""
        return captured, api

    def test_one_json_object_per_access_line_with_the_request_fields(self, records):
        stream, api = records
        api.user("alice")
        stream.truncate(0)
        stream.seek(0)
        api.get("/groups/admins/members/admin?x=1", headers={"X-Request-ID": "req-7"})
        (line,) = lines(stream)
        entry = json.loads(line)
        assert entry["logger"] == "membership.access" and entry["level"] == "INFO"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
        assert entry["request_id"] == "req-7"
        assert entry["user"] == ADMIN
        assert entry["method"] == "GET"
        assert entry["path"] == "/groups/admins/members/admin?x=1"
        assert entry["route"] == "/groups/{group}/members/{user}"
        assert entry["status"] == 200
        assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
        assert entry["client"]
        assert entry["retries"] == 0
        assert entry["message"] == "GET /groups/admins/members/admin?x=1 200"

    def test_lines_logged_during_a_request_carry_its_id_and_a_traceback_field(
        self, records, monkeypatch
    ):
        stream, api = records

        def boom(request):
            raise RuntimeError("exploded")

        monkeypatch.setattr("membership.web.views.root.effective_principals", boom)
        stream.truncate(0)
        stream.seek(0)
        api.get("/", headers={"X-Request-ID": "trace-me"})
        entries = [json.loads(line) for line in lines(stream)]
        error = next(e for e in entries if e["level"] == "ERROR")
        assert error["request_id"] == "trace-me"
        assert "RuntimeError: exploded" in error["exception"]
        access = next(e for e in entries if e["logger"] == "membership.access")
        assert access["status"] == 500 and access["request_id"] == "trace-me"

    def test_no_credential_reaches_a_line(self, records):
        stream, api = records
        token = api.token(ADMIN)
        api.get("/users", as_=basic(ADMIN, "hunter2-secret"))
        api.get("/users", as_=bearer(token))
        logging.getLogger("membership.test").warning(
            "client sent Authorization: Basic %s and token=%s, password=%s",
            "YWRtaW46aHVudGVyMi1zZWNyZXQ=",
            token,
            "hunter2-secret",
        )
        text = stream.getvalue()
        assert "hunter2" not in text and token not in text and "YWRtaW46" not in text
        assert PASSWORD not in text
        for line in lines(stream):
            json.loads(line)  # every line is one object


def test_text_access_line_has_route_and_retries(captured, api):
    api.get("/groups/admins/members/admin", headers={"X-Request-ID": "r-1"})
    (line,) = [entry for entry in lines(captured) if entry.startswith("membership.access")]
    assert '"GET /groups/admins/members/admin" 200' in line
    assert "user=admin rid=r-1 route=/groups/{group}/members/{user} retries=0" in line


def test_text_lines_are_redacted_too(captured, api):
    logging.getLogger("membership.test").warning("Bearer mbr_abcdefghijklmnop leaked?")
    (line,) = [entry for entry in lines(captured) if entry.startswith("membership.test")]
    assert "mbr_" not in line and "[redacted]" in line


def test_a_bad_log_format_stops_the_start():
    from membership.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=r"membership\.log_format: must be text or json"):
        load_settings({"zodbconn.uri": "memory://", "membership.log_format": "xml"}, environ={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic YWxpY2U6c2VjcmV0", "Authorization: [redacted]"),
        ("header Bearer mbr_0123456789abcdef here", "header Bearer [redacted] here"),
        ("token=mbr_0123456789abcdef&x=1", "token=[redacted]&x=1"),
        ('{"password": "p4ss w0rd"}', '{"password": "[redacted]"}'),
        ("PASSWORD=x TOKEN: y", "PASSWORD=[redacted] TOKEN: [redacted]"),
        ("nothing to see /users/alice/tokens/0123", "nothing to see /users/alice/tokens/0123"),
        ('Basic realm="membership"', 'Basic realm="membership"'),
    ],
)
def test_redact(text, expected):
    assert logs.redact(text) == expected
