"""The service's settings: one table, parsed once, with one-line errors.

Every setting is declared once, as a field of ``Settings`` (type, default,
bounds, meaning, ini key). Parsing, the environment variable names and the
README table are all derived from those fields, so they cannot drift apart.

The ini file and the environment are read once, at start-up, into a frozen
``Settings``; the rest of the code reads attributes instead of calling
``int(settings.get(...))`` with its own default. A bad value stops the start
with a ``SettingsError``: one line naming the ini key (or the environment
variable) and what is wrong with it, rather than a pydantic error dump.
"""

import difflib
import os
import re
from collections.abc import Mapping
from typing import Any, get_origin

import annotated_types
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined

PREFIX = "membership."
ENV_PREFIX = "MEMBERSHIP_"

# What a browser sends in ``Origin``: scheme://host[:port], no path, no trailing slash.
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/?#@]+")


def _setting(default: Any, key: str, meaning: str, *, legacy_env: str = "", **bounds: Any) -> Any:
    return Field(
        default,
        description=meaning,
        json_schema_extra={"key": key, "legacy_env": legacy_env},
        **bounds,
    )


class Settings(BaseModel):
    """All settings of the service, validated; attribute = ini key minus ``membership.``."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    zodbconn_uri: str = _setting(
        ...,
        "zodbconn.uri",
        "ZODB storage URI (zodburi syntax: `file://`, `zeo://`, `zconfig://`, `memory://`).",
        legacy_env="MEMBERSHIP_ZODB_URI",
        min_length=1,
    )
    retry_attempts: int = _setting(
        3, "retry.attempts", "Attempts for a write that hits a ZODB conflict (1: no retry).", ge=1
    )
    max_body_bytes: int = _setting(
        1_048_576,
        "membership.max_body_bytes",
        "Largest request body accepted, in bytes; a larger one is refused unread (413).",
        ge=1,
    )
    max_query_params: int = _setting(
        100,
        "membership.max_query_params",
        "Most query parameters accepted in one request; more is a 400.",
        ge=1,
    )
    max_etag_header: int = _setting(
        1024,
        "membership.max_etag_header",
        "Longest `If-Match` / `If-None-Match` header accepted, in characters; longer is a 400.",
        ge=1,
    )
    max_depth: int = _setting(
        20,
        "membership.max_depth",
        "Deepest nesting of groups (a top-level group has depth 1).",
        ge=1,
        le=1000,
    )
    pack_days: float = _setting(
        7.0,
        "membership.pack_days",
        "`pack_membership_db`: keep old object revisions and history younger than this many days.",
        ge=0,
    )
    argon2_time_cost: int = _setting(
        3, "membership.argon2.time_cost", "Argon2id password hashing: iterations.", ge=1
    )
    argon2_memory_cost: int = _setting(
        65536,
        "membership.argon2.memory_cost",
        "Argon2id password hashing: memory per hash, in KiB.",
        ge=8,
    )
    argon2_parallelism: int = _setting(
        4, "membership.argon2.parallelism", "Argon2id password hashing: parallel lanes.", ge=1
    )
    throttle_per_user: int = _setting(
        10,
        "membership.throttle.per_user",
        "Failed logins per user id within the window before 429 (0: no limit).",
        ge=0,
    )
    throttle_per_address: int = _setting(
        100,
        "membership.throttle.per_address",
        "Failed logins per client address within the window before 429 (0: no limit).",
        ge=0,
    )
    throttle_window: float = _setting(
        300.0,
        "membership.throttle.window",
        "Seconds over which failed logins are counted.",
        gt=0,
    )
    throttle_trusted_for: float = _setting(
        86400.0,
        "membership.throttle.trusted_for",
        "Seconds an address that logged in as a user is exempt from that user's lock (0: never).",
        ge=0,
    )
    throttle_max_keys: int = _setting(
        100_000,
        "membership.throttle.max_keys",
        "Most user ids/addresses tracked per process; the stalest are forgotten first.",
        ge=1,
    )
    cors_allow_origins: tuple[str, ...] = _setting(
        (),
        "membership.cors.allow_origins",
        "Origins (`https://host[:port]`, or `*`) allowed to call the API from a browser; "
        "none: CORS off.",
    )
    cors_max_age: int = _setting(
        600,
        "membership.cors.max_age",
        "Seconds a browser may cache a CORS preflight answer.",
        ge=0,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _split_lists(cls, value: Any, info: ValidationInfo) -> Any:
        """Ini files and the environment give lists as one space-separated string."""
        is_list = get_origin(cls.model_fields[info.field_name].annotation) is tuple
        return value.split() if is_list and isinstance(value, str) else value

    @field_validator("cors_allow_origins")
    @classmethod
    def _check_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        """An origin with a path or trailing slash would silently never match."""
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"not an origin (scheme://host[:port], or *): {origin!r}")
        return origins


class SettingsError(Exception):
    """A missing, malformed or unknown setting; ``str()`` is one line naming it."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")


def _key(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    assert isinstance(extra, dict)
    return str(extra["key"])


def _env_name(key: str) -> str:
    name = key.removeprefix(PREFIX)
    return ENV_PREFIX + name.upper().replace(".", "_").replace("-", "_")


def _env_names(info: FieldInfo) -> tuple[str, ...]:
    """Environment variables for a field, the one that wins first."""
    extra = info.json_schema_extra
    assert isinstance(extra, dict)
    legacy = str(extra.get("legacy_env") or "")
    return (_env_name(_key(info)), legacy) if legacy else (_env_name(_key(info)),)


def _from_environment(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{attribute: (value, variable)}`` for the settings the environment overrides."""
    found = {}
    for attr, info in Settings.model_fields.items():
        for name in _env_names(info):
            if environ.get(name):
                found[attr] = (environ[name], name)
                break
    return found


def apply_environment(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict:
    """A copy of ``raw`` with the environment's overrides, as strings.

    For the add-ons (pyramid_zodbconn, pyramid_retry) that read the raw dict.
    """
    environ = os.environ if environ is None else environ
    settings = dict(raw)
    for attr, (value, _) in _from_environment(environ).items():
        settings[_key(Settings.model_fields[attr])] = value
    return settings


def load_settings(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Parse the PasteDeploy settings plus the environment (which wins) into ``Settings``.

    Keys outside ``membership.`` that are not in the table belong to Pyramid
    and its add-ons and are ignored; an unknown ``membership.`` key is a typo.
    """
    environ = os.environ if environ is None else environ
    fields = Settings.model_fields
    _refuse_unknown(raw)
    found = {
        attr: (raw[_key(info)], _key(info)) for attr, info in fields.items() if _key(info) in raw
    }
    for attr, (value, name) in _from_environment(environ).items():
        found[attr] = (value, f"{name} (environment)")
    try:
        return Settings.model_validate({attr: value for attr, (value, _) in found.items()})
    except ValidationError as exc:
        error = exc.errors()[0]
        attr = str(error["loc"][0])
        name = found[attr][1] if attr in found else _key(fields[attr])
        raise SettingsError(name, _problem(error, fields[attr])) from None


def _refuse_unknown(raw: Mapping[str, Any]) -> None:
    # Suggestions compare names without the shared prefix, which would make everything "close".
    known = {_key(info).removeprefix(PREFIX): _key(info) for info in Settings.model_fields.values()}
    for key in sorted(raw):
        if key.startswith(PREFIX) and key not in known.values():
            close = difflib.get_close_matches(key.removeprefix(PREFIX), known, n=1)
            hint = f" (did you mean {known[close[0]]}?)" if close else ""
            raise SettingsError(key, f"unknown setting{hint}")


def _number(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _problem(error: ErrorDetails, info: FieldInfo) -> str:
    kind, value, ctx = error["type"], error["input"], error.get("ctx", {})
    got = f"(got {value!r})"
    if kind == "missing":
        return f"required; set it in the ini file or {_env_names(info)[0]}"
    if isinstance(value, str) and not value.strip():
        if info.is_required():
            return "empty value; it is required"
        return f"empty value (leave it unset for the default, {_default_text(info, md=False)})"
    messages = {
        "int_parsing": f"not a whole number: {value!r}",
        "int_from_float": f"not a whole number: {value!r}",
        "int_type": f"not a whole number: {value!r}",
        "float_parsing": f"not a number: {value!r}",
        "float_type": f"not a number: {value!r}",
        "finite_number": f"must be a finite number {got}",
        "bool_parsing": f"not a boolean (true/false, yes/no, on/off, 1/0): {value!r}",
        "bool_type": f"not a boolean (true/false, yes/no, on/off, 1/0): {value!r}",
        "string_type": f"not a string: {value!r}",
        "greater_than_equal": f"must be at least {_number(ctx.get('ge'))} {got}",
        "greater_than": f"must be greater than {_number(ctx.get('gt'))} {got}",
        "less_than_equal": f"must be at most {_number(ctx.get('le'))} {got}",
        "less_than": f"must be less than {_number(ctx.get('lt'))} {got}",
        "value_error": str(ctx.get("error")),
    }
    problem = messages.get(kind) or f"{error['msg']} {got}"
    return " ".join(problem.splitlines())


def _type_text(info: FieldInfo) -> str:
    if get_origin(info.annotation) is tuple:
        return "space-separated list"
    names = {int: "integer", float: "number", str: "string", bool: "boolean"}
    text = names.get(info.annotation, getattr(info.annotation, "__name__", str(info.annotation)))
    low = high = ""
    for bound in info.metadata:
        if isinstance(bound, annotated_types.Ge):
            low = f"≥ {_number(bound.ge)}"
        elif isinstance(bound, annotated_types.Gt):
            low = f"> {_number(bound.gt)}"
        elif isinstance(bound, annotated_types.Le):
            high = f"≤ {_number(bound.le)}"
        elif isinstance(bound, annotated_types.Lt):
            high = f"< {_number(bound.lt)}"
    if low.startswith("≥") and high.startswith("≤"):
        return f"{text} {low[2:]} to {high[2:]}"
    return " ".join(part for part in (text, low, high) if part)


def _default_text(info: FieldInfo, *, md: bool = True) -> str:
    if info.default is PydanticUndefined:
        return "*required*" if md else "none"
    if info.default == ():
        return "*(none)*" if md else "none"
    text = _number(info.default)
    return f"`{text}`" if md else text


def markdown_table() -> str:
    """The README's table of settings, generated so it always matches the code."""
    rows = [
        "| setting | environment variable | type | default | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for info in Settings.model_fields.values():
        primary, *legacy = _env_names(info)
        env = f"`{primary}`" + "".join(f" (legacy: `{name}`)" for name in legacy)
        cells = (
            f"`{_key(info)}`",
            env,
            _type_text(info),
            _default_text(info),
            str(info.description).replace("|", "\\|"),
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
