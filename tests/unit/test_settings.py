"""``membership.settings``: defaults, ini and environment parsing, one-line errors, the table."""

from pathlib import Path

import pytest

from membership.settings import (
    Settings,
    SettingsError,
    apply_environment,
    listen_address,
    load_settings,
    markdown_table,
)

URI = {"zodbconn.uri": "memory://"}
ALL_KEYS = [info.json_schema_extra["key"] for info in Settings.model_fields.values()]
README = Path(__file__).parents[2] / "README.md"


def env_name(key: str) -> str:
    """The documented rule, spelled out independently of the module."""
    return "MEMBERSHIP_" + key.removeprefix("membership.").upper().replace(".", "_")


def load(environ: dict | None = None, **ini: object) -> Settings:
    raw = {**URI, **{key.replace("__", "."): value for key, value in ini.items()}}
    return load_settings(raw, environ={} if environ is None else environ)


def refusal(raw: dict, environ: dict | None = None) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, environ=environ or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults():
    settings = load_settings(URI, environ={})
    assert settings.zodbconn_uri == "memory://"
    assert settings.retry_attempts == 3
    assert settings.max_body_bytes == 1_048_576
    assert settings.max_query_params == 100
    assert settings.max_etag_header == 1024
    assert settings.max_depth == 20
    assert (settings.argon2_time_cost, settings.argon2_memory_cost) == (3, 65536)
    assert settings.argon2_parallelism == 4
    assert (settings.throttle_per_user, settings.throttle_per_address) == (10, 100)
    assert (settings.throttle_window, settings.throttle_trusted_for) == (300.0, 86400.0)
    assert settings.throttle_max_keys == 100_000
    assert settings.cors_allow_origins == ()
    assert settings.cors_max_age == 600


def test_attributes_are_the_keys_without_the_prefix():
    for attr, info in Settings.model_fields.items():
        key = info.json_schema_extra["key"]
        assert attr == key.removeprefix("membership.").replace(".", "_")
        assert info.description


def test_ini_strings_are_parsed():
    settings = load_settings(
        {
            **URI,
            "retry.attempts": "5",
            "membership.max_depth": "7",
            "membership.throttle.window": "9.5",
            "membership.throttle.trusted_for": "0",
            "membership.cors.allow_origins": " https://app.example  http://localhost:8080 ",
        },
        environ={},
    )
    assert settings.retry_attempts == 5
    assert settings.max_depth == 7
    assert settings.throttle_window == 9.5
    assert settings.throttle_trusted_for == 0.0
    assert settings.cors_allow_origins == ("https://app.example", "http://localhost:8080")


def test_empty_origin_list_turns_cors_off():
    assert load(membership__cors__allow_origins="").cors_allow_origins == ()


def test_python_values_are_accepted():
    settings = load(membership__max_depth=4, membership__throttle__window=1)
    assert (settings.max_depth, settings.throttle_window) == (4, 1.0)


def test_settings_are_frozen():
    settings = load()
    with pytest.raises(ValueError):
        settings.max_depth = 3  # type: ignore[misc]


def test_other_keys_are_ignored():
    settings = load_settings(
        {**URI, "pyramid.reload_templates": "false", "retry.activate_hook": "x.y", "tm.x": "1"},
        environ={},
    )
    assert settings.retry_attempts == 3


def test_environment_wins_over_ini():
    environ = {
        "MEMBERSHIP_THROTTLE_PER_USER": "4",
        "MEMBERSHIP_ZODBCONN_URI": "zeo://db:8100",
        "MEMBERSHIP_RETRY_ATTEMPTS": "2",
        "MEMBERSHIP_CORS_ALLOW_ORIGINS": "https://a.example https://b.example",
    }
    settings = load(environ, membership__throttle__per_user="9", retry__attempts="7")
    assert settings.throttle_per_user == 4
    assert settings.zodbconn_uri == "zeo://db:8100"
    assert settings.retry_attempts == 2
    assert settings.cors_allow_origins == ("https://a.example", "https://b.example")


def test_environment_alone_can_supply_the_uri():
    settings = load_settings({}, environ={"MEMBERSHIP_ZODBCONN_URI": "memory://"})
    assert settings.zodbconn_uri == "memory://"


def test_empty_environment_variable_is_ignored():
    settings = load(
        {"MEMBERSHIP_MAX_DEPTH": "", "MEMBERSHIP_ZODBCONN_URI": ""}, membership__max_depth="8"
    )
    assert settings.max_depth == 8
    assert settings.zodbconn_uri == "memory://"


def test_legacy_uri_variable():
    assert load({"MEMBERSHIP_ZODB_URI": "zeo://old"}).zodbconn_uri == "zeo://old"


def test_new_uri_variable_wins_over_legacy():
    environ = {"MEMBERSHIP_ZODB_URI": "zeo://old", "MEMBERSHIP_ZODBCONN_URI": "zeo://new"}
    assert load(environ).zodbconn_uri == "zeo://new"


def test_apply_environment_returns_an_overridden_copy():
    raw = {**URI, "retry.attempts": "3", "pyramid.x": "y"}
    environ = {"MEMBERSHIP_ZODB_URI": "zeo://old", "MEMBERSHIP_RETRY_ATTEMPTS": "5"}
    applied = apply_environment(raw, environ=environ)
    assert applied == {"zodbconn.uri": "zeo://old", "retry.attempts": "5", "pyramid.x": "y"}
    assert raw["retry.attempts"] == "3"
    assert apply_environment(raw, environ={}) == raw


def test_not_a_number():
    message = refusal({**URI, "membership.max_depth": "zero"})
    assert message == "membership.max_depth: not a whole number: 'zero'"


def test_below_the_minimum():
    message = refusal({**URI, "membership.max_depth": "0"})
    assert message == "membership.max_depth: must be at least 1 (got '0')"


def test_above_the_maximum():
    message = refusal({**URI, "membership.max_depth": "1001"})
    assert message == "membership.max_depth: must be at most 1000 (got '1001')"


def test_bad_environment_value_names_the_variable():
    message = refusal(URI, {"MEMBERSHIP_THROTTLE_WINDOW": "abc"})
    assert message == "MEMBERSHIP_THROTTLE_WINDOW (environment): not a number: 'abc'"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("membership.throttle.window", "0", "must be greater than 0 (got '0')"),
        ("membership.throttle.window", "inf", "must be a finite number (got 'inf')"),
        ("membership.throttle.per_user", "-1", "must be at least 0 (got '-1')"),
        ("membership.argon2.memory_cost", "7", "must be at least 8 (got '7')"),
        ("retry.attempts", "0", "must be at least 1 (got '0')"),
        ("retry.attempts", "2.5", "not a whole number: '2.5'"),
        ("membership.max_body_bytes", "", "empty value (leave it unset for the default, 1048576)"),
        ("zodbconn.uri", "", "empty value; it is required"),
    ],
)
def test_bad_values(key, value, problem):
    assert refusal({**URI, key: value}) == f"{key}: {problem}"


@pytest.mark.parametrize("origin", ["https://app.example/", "app.example", "https://a.example/x"])
def test_origin_with_a_path_is_refused(origin):
    message = refusal({**URI, "membership.cors.allow_origins": f"https://ok.example {origin}"})
    assert message.startswith("membership.cors.allow_origins: not an origin")
    assert repr(origin) in message


def test_wildcard_origin_is_accepted():
    assert load(membership__cors__allow_origins="*").cors_allow_origins == ("*",)


def test_missing_uri():
    message = refusal({})
    assert message == "zodbconn.uri: required; set it in the ini file or MEMBERSHIP_ZODBCONN_URI"


def test_unknown_membership_key_is_refused():
    message = refusal({**URI, "membership.max_dept": "3"})
    assert message == "membership.max_dept: unknown setting (did you mean membership.max_depth?)"


def test_unknown_key_without_a_near_miss():
    assert refusal({**URI, "membership.colour": "red"}) == "membership.colour: unknown setting"


def test_errors_are_never_validation_errors():
    with pytest.raises(SettingsError):
        load_settings({**URI, "membership.cors.max_age": object()}, environ={})


def test_markdown_table_lists_every_setting_and_variable():
    table = markdown_table()
    lines = table.splitlines()
    assert lines[0] == "| setting | environment variable | type | default | meaning |"
    assert len(lines) == 2 + len(Settings.model_fields)
    for key in ALL_KEYS:
        assert f"| `{key}` |" in table
        assert f"`{env_name(key)}`" in table
    assert "`MEMBERSHIP_ZODB_URI`" in table
    assert "| integer 1 to 1000 | `20` |" in table


def test_every_setting_has_an_environment_variable():
    """Each key's documented variable reaches its field: a value that differs from the
    default (the default itself, for settings whose values are not numbers) is read."""
    for key, (name, info) in zip(ALL_KEYS, Settings.model_fields.items(), strict=True):
        default = info.default
        if isinstance(default, bool):
            value, expected = str(not default).lower(), not default
        elif isinstance(default, int | float):
            value, expected = str(default + 1), default + 1
        else:
            continue  # strings and lists: parsed like the ini values (tests above)
        settings = load_settings(URI, environ={env_name(key): value})
        assert getattr(settings, name) == expected, key
    assert load_settings({}, environ={"MEMBERSHIP_ZODBCONN_URI": "memory://"}).zodbconn_uri


def test_the_readme_table_is_current():
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- settings-table -->\n") + len("<!-- settings-table -->\n")
    assert text[start : text.index("<!-- /settings-table -->")] == markdown_table()


@pytest.mark.parametrize("listen", ["9464", "127.0.0.1", ":9464", "127.0.0.1:http", "h:70000"])
def test_a_dispatch_metrics_address_must_be_host_and_port(listen):
    message = refusal({**URI, "membership.dispatch.metrics_listen": listen})
    assert message.startswith("membership.dispatch.metrics_listen: not host:port")


@pytest.mark.parametrize(
    ("listen", "parsed"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:0", ("::1", 0)), ("", None)],
)
def test_dispatch_metrics_addresses(listen, parsed):
    assert load(membership__dispatch__metrics_listen=listen).dispatch_metrics_listen == listen
    if parsed is not None:
        assert listen_address(listen) == parsed


def test_scim_settings_are_checked():
    with pytest.raises(SettingsError, match="slug or uuid"):
        load_settings({**URI, "membership.scim.user_ids": "email"}, environ={})
    with pytest.raises(SettingsError, match="group path"):
        load_settings({**URI, "membership.scim.groups_parent": "/users"}, environ={})
    parsed = load_settings({**URI, "membership.scim.groups_parent": "/groups/idp"}, environ={})
    assert (parsed.scim_groups_parent, parsed.scim_max_inline_members) == ("/groups/idp", 1000)
