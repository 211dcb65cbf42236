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
import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any, get_origin
from urllib.parse import urlsplit

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

from .scopes import SCOPES

PREFIX = "membership."
ENV_PREFIX = "MEMBERSHIP_"

#: ``membership.throttle.storage`` schemes (the ``limits`` library's names).
_THROTTLE_SCHEMES = ("memory", "redis", "rediss", "redis+unix", "valkey", "valkeys")

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
    changes_stream_seconds: float = _setting(
        55.0,
        "membership.changes.stream_seconds",
        "How long a server-sent-events stream of `/changes` stays open before it closes "
        "with a `retry:` hint (the client reconnects with `Last-Event-ID`).",
        gt=0,
        le=3600,
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
    auth_basic_cache_seconds: int = _setting(
        60,
        "membership.auth.basic_cache_seconds",
        "Seconds a Basic login verified by argon2 is remembered in the process (keyed by an "
        "HMAC, dropped when the password changes or the user goes; 0: verify every request).",
        ge=0,
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
        "Most user ids/addresses the in-process limiter tracks (`memory://`, and the fallback "
        "when Redis is away); the stalest are forgotten first.",
        ge=1,
    )
    throttle_storage: str = _setting(
        "memory://",
        "membership.throttle.storage",
        "Where failed logins are counted (the `limits` library): `memory://` (each process "
        "on its own) or `redis://host:6379/0` (every worker and restart share the counts; if "
        "Redis goes away, each process counts on its own until it is back).",
        min_length=1,
    )
    log_format: str = _setting(
        "text",
        "membership.log_format",
        "`text`: the ini's log format; `json`: one JSON object per line (time, level, logger, "
        "message, and for requests: request id, user, method, route, status, duration).",
    )
    metrics_enabled: bool = _setting(
        True,
        "membership.metrics.enabled",
        "Count requests, commits, conflicts, logins and checks for `GET /metrics` (Prometheus).",
    )
    metrics_allow: tuple[str, ...] = _setting(
        ("127.0.0.0/8", "::1"),
        "membership.metrics.allow",
        "Client addresses or networks (CIDR) that may read `/metrics`; others get 404.",
    )
    tracing_enabled: bool = _setting(
        False,
        "membership.tracing.enabled",
        "OpenTelemetry tracing (`pip install membership[tracing]`); the exporter is set by the "
        "standard `OTEL_*` variables (OTLP over HTTP by default).",
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

    webhooks_allow_private: bool = _setting(
        False,
        "membership.webhooks.allow_private",
        "Allow webhook URLs whose host resolves to a loopback, private or link-local address "
        "(refused with 422 otherwise). For tests and closed networks.",
    )
    webhooks_timeout: float = _setting(
        10.0,
        "membership.webhooks.timeout",
        "Seconds a webhook delivery may take (connect, send, answer); redirects are not followed.",
        gt=0,
        le=300,
    )
    webhooks_retry_min: float = _setting(
        5.0,
        "membership.webhooks.retry_min",
        "Seconds before the first retry of a failed delivery; each retry doubles it (with "
        "jitter) up to `membership.webhooks.retry_max`. `Retry-After` on 429/503 wins.",
        gt=0,
    )
    webhooks_retry_max: float = _setting(
        86400.0,
        "membership.webhooks.retry_max",
        "Longest wait between two attempts of a failing delivery, in seconds.",
        gt=0,
    )
    webhooks_disable_after: float = _setting(
        86400.0,
        "membership.webhooks.disable_after",
        "Seconds of failed deliveries after which a subscription is disabled "
        "(`webhook.disabled`); a 410 from the receiver disables at once.",
        gt=0,
    )
    dispatch_in_process: bool = _setting(
        True,
        "membership.dispatch.in_process",
        "Run the dispatcher (webhooks, `membership.expired`, feed sealing and retention) as a "
        "thread of the app when the storage is a FileStorage, which one process owns. On "
        "ZEO/RelStorage run `membership_dispatch <ini>` instead.",
    )
    dispatch_lease_seconds: float = _setting(
        60.0,
        "membership.dispatch.lease_seconds",
        "How long a dispatcher's lease on a subscription lasts unless renewed: another "
        "`membership_dispatch` takes over this long after the owner died.",
        ge=1,
    )
    dispatch_poll_seconds: float = _setting(
        0.5,
        "membership.dispatch.poll_seconds",
        "How often the dispatcher checks the storage's last transaction id (no ZODB "
        "connection is held in between).",
        gt=0,
        le=60,
    )
    health_unsealed_seconds: int = _setting(
        300,
        "membership.health.unsealed_seconds",
        "`GET /health` answers `degraded` when the oldest change-feed batch not sealed yet "
        "is older than this: no dispatcher runs (`membership_dispatch` on ZEO/RelStorage), "
        "and every history read merges the growing backlog.",
        ge=0,
    )
    dispatch_workers: int = _setting(
        4,
        "membership.dispatch.workers",
        "Subscriptions a dispatcher delivers to at the same time (one thread each).",
        ge=1,
        le=256,
    )
    dispatch_metrics_listen: str = _setting(
        "",
        "membership.dispatch.metrics_listen",
        "`host:port` where each `membership_dispatch` process serves `GET /metrics` "
        "(Prometheus: its webhook deliveries and the feed's lag), e.g. `127.0.0.1:9464`; "
        "empty: off. No access control: keep it on loopback or a private address. The "
        "in-process dispatcher's metrics are in the app's `/metrics`.",
    )
    changes_retention_days: float = _setting(
        7.0,
        "membership.changes.retention_days",
        "Days the change feed keeps; older cursors get 410 (0: keep everything).",
        ge=0,
    )
    changes_nats_url: tuple[str, ...] = _setting(
        (),
        "membership.changes.nats_url",
        "NATS servers (`nats://127.0.0.1:4222`) to publish every change to, on JetStream "
        "subjects `membership.changes.<type>` with `Nats-Msg-Id` = the change's id; none: off.",
    )

    ui_insecure_cookies: bool = _setting(
        False,
        "membership.ui.insecure_cookies",
        "Send the admin UI's session cookie without `Secure`, so logging in works over plain "
        "http (local development only; `development.ini` sets it).",
    )
    ui_session_secret: str = _setting(
        "",
        "membership.ui.session_secret",
        "Key that signs the admin UI's session cookies (a long random string, the same for "
        "every worker). Unset: a new one per process, so sessions end at a restart and do "
        "not span several workers.",
    )

    # External identity (OIDC resource server). The audience comes first: the
    # issuer's check needs it.
    oidc_audience: str = _setting(
        "",
        "membership.oidc.audience",
        "The audience this service's JWTs carry (`aud` must contain it); required with "
        "`membership.oidc.issuer`.",
    )
    oidc_issuer: str = _setting(
        "",
        "membership.oidc.issuer",
        "The identity provider whose JWT bearer tokens are accepted (exact `iss`, e.g. "
        "`https://sso.example.com/realms/acme`); unset: JWTs are off. https, or http on a "
        "loopback address only.",
    )
    oidc_jwks_uri: str = _setting(
        "",
        "membership.oidc.jwks_uri",
        "Where the issuer publishes its signing keys (JWKS); unset: read from "
        "`<issuer>/.well-known/openid-configuration`.",
    )
    oidc_algorithms: tuple[str, ...] = _setting(
        ("RS256", "ES256", "EdDSA"),
        "membership.oidc.algorithms",
        "JWT signature algorithms accepted (asymmetric only: `none` and `HS*` are refused).",
    )
    oidc_leeway: float = _setting(
        30.0,
        "membership.oidc.leeway",
        "Seconds of clock skew allowed on a JWT's `exp`, `nbf` and `iat`.",
        ge=0,
        le=600,
    )
    oidc_username_claim: str = _setting(
        "",
        "membership.oidc.username_claim",
        "A JWT claim naming the user id (e.g. `preferred_username`), used when the token's "
        "`(iss, sub)` is linked to no user; unset: only linked identities name users.",
    )
    oidc_scope_prefix: str = _setting(
        "",
        "membership.oidc.scope_prefix",
        "Prefix of this service's scopes in a JWT's `scope`/`scp` claim (e.g. `membership:` "
        "for `membership:read`); other scopes are ignored.",
    )
    oidc_default_scopes: tuple[str, ...] = _setting(
        ("admin",),
        "membership.oidc.default_scopes",
        "Scopes of a JWT whose `scope`/`scp` claim names none of this service's "
        "(`read`, `write`, `acl`, `provision`, `admin`); empty: such a token may do nothing.",
    )
    oidc_jwks_cache_seconds: float = _setting(
        300.0,
        "membership.oidc.jwks_cache_seconds",
        "Seconds the issuer's key set is cached before it is fetched again (while the "
        "issuer is unreachable, the cached keys keep working).",
        gt=0,
    )
    oidc_jwks_refetch_seconds: float = _setting(
        30.0,
        "membership.oidc.jwks_refetch_seconds",
        "Least seconds between two fetches of the key set forced by a JWT naming an "
        "unknown key, or after a failed fetch (0: no limit).",
        ge=0,
    )
    # "Log in with <IdP>" on the admin UI's login page (after the issuer: it needs it).
    ui_oidc_client_id: str = _setting(
        "",
        "membership.ui.oidc_client_id",
        "The admin UI's OAuth client id at `membership.oidc.issuer`: the login page offers "
        '"Log in with …" (authorization code flow with PKCE; redirect URI '
        "`<this service>/ui/login/callback`); unset: password login only.",
    )
    ui_oidc_client_secret: str = _setting(
        "",
        "membership.ui.oidc_client_secret",
        "The admin UI's client secret (a confidential client: sent to the token endpoint "
        "with HTTP Basic); unset: a public client (PKCE alone).",
    )
    ui_oidc_name: str = _setting(
        "your identity provider",
        "membership.ui.oidc_name",
        "The identity provider's name on the login page's button (\"Log in with Keycloak\").",
        min_length=1,
        max_length=60,
    )

    scim_user_ids: str = _setting(
        "slug",
        "membership.scim.user_ids",
        "How a user created through SCIM gets its immutable "
        "id from `userName`: `slug` (lowercased, other characters as `-`, e.g. "
        "`Alice.Smith@example.com` -> `alice.smith-example.com`, with `-2`, `-3`... when "
        "taken) or `uuid` (a random UUID, whatever the userName).",
    )
    scim_groups_parent: str = _setting(
        "/groups",
        "membership.scim.groups_parent",
        "Where groups created through SCIM live: `/groups` (the top level) or the path of "
        "an existing group; each is named by a slug of its `displayName`.",
        min_length=1,
    )
    scim_max_inline_members: int = _setting(
        1000,
        "membership.scim.max_inline_members",
        "Groups with more members than this answer a SCIM PATCH with 204 (no body) and leave "
        "`members` out of GETs unless `attributes=members` asks for them.",
        ge=0,
    )
    scim_max_filter_scan: int = _setting(
        10_000,
        "membership.scim.max_filter_scan",
        "Most resources a SCIM filter without an index-backed form may examine; a larger "
        "scan is refused with `400 tooMany`.",
        ge=1,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _split_lists(cls, value: Any, info: ValidationInfo) -> Any:
        """Ini files and the environment give lists as one space-separated string."""
        is_list = get_origin(cls.model_fields[info.field_name].annotation) is tuple
        return value.split() if is_list and isinstance(value, str) else value

    @field_validator("oidc_issuer", "oidc_jwks_uri")
    @classmethod
    def _check_oidc_url(cls, url: str, info: ValidationInfo) -> str:
        """https, or http on a loopback address (tests, an IdP on the same machine)."""
        if not url:
            return url
        problem = idp_url_problem(url)
        if problem:
            raise ValueError(problem)
        if info.field_name == "oidc_issuer" and not info.data.get("oidc_audience"):
            raise ValueError("needs membership.oidc.audience too (the audience of its tokens)")
        return url

    @field_validator("ui_oidc_client_id")
    @classmethod
    def _check_ui_client(cls, client_id: str, info: ValidationInfo) -> str:
        if client_id and not info.data.get("oidc_issuer"):
            raise ValueError("needs membership.oidc.issuer too (where the UI's users log in)")
        return client_id

    @field_validator("oidc_algorithms")
    @classmethod
    def _check_algorithms(cls, algorithms: tuple[str, ...]) -> tuple[str, ...]:
        if not algorithms:
            raise ValueError(f"give at least one of {' '.join(sorted(JWT_ALGORITHMS))}")
        for algorithm in algorithms:
            if algorithm.lower() == "none" or algorithm.upper().startswith("HS"):
                raise ValueError(
                    f"{algorithm!r} is refused: unsigned and shared-secret (HS*) tokens "
                    "cannot be checked against the issuer's public keys"
                )
            if algorithm not in JWT_ALGORITHMS:
                raise ValueError(
                    f"unknown algorithm {algorithm!r} (one of {' '.join(sorted(JWT_ALGORITHMS))})"
                )
        return algorithms

    @field_validator("oidc_default_scopes")
    @classmethod
    def _check_scopes(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        for scope in scopes:
            if scope not in SCOPES:
                raise ValueError(f"unknown scope {scope!r} (one of {' '.join(SCOPES)})")
        return scopes

    @field_validator("throttle_storage")
    @classmethod
    def _check_throttle_storage(cls, uri: str) -> str:
        scheme = uri.partition("://")[0]
        if not uri.partition("://")[1] or scheme not in _THROTTLE_SCHEMES:
            raise ValueError(f"not memory:// or a redis:// URL: {uri!r}")
        return uri

    @field_validator("scim_user_ids")
    @classmethod
    def _check_scim_user_ids(cls, value: str) -> str:
        if value not in ("slug", "uuid"):
            raise ValueError(f"must be slug or uuid, not {value!r}")
        return value

    @field_validator("scim_groups_parent")
    @classmethod
    def _check_scim_groups_parent(cls, value: str) -> str:
        from .paths import group_names

        if value != "/groups" and not group_names(value):
            raise ValueError(f"not /groups or a group path such as /groups/idp: {value!r}")
        return value

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, value: str) -> str:
        if value not in ("text", "json"):
            raise ValueError(f"must be text or json, not {value!r}")
        return value

    @field_validator("metrics_allow")
    @classmethod
    def _check_networks(cls, networks: tuple[str, ...]) -> tuple[str, ...]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network (CIDR): {network!r}") from None
        return networks

    @field_validator("dispatch_metrics_listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        if value:
            listen_address(value)
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _check_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        """An origin with a path or trailing slash would silently never match."""
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"not an origin (scheme://host[:port], or *): {origin!r}")
        return origins


def listen_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6; port 0: any free one) -> ``(host, port)``;
    ``ValueError`` naming what is wrong."""
    host, colon, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not host:port (e.g. 127.0.0.1:9464): {text!r}")
    return host, int(port)


#: Asymmetric JWS algorithms (RFC 7518, RFC 8037): the only ones a JWT may be signed with.
JWT_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def idp_url_problem(url: str) -> str | None:
    """Why ``url`` cannot name an identity provider, or None."""
    try:
        parsed = urlsplit(url)
        host = parsed.hostname
    except ValueError:
        return f"not a URL: {url!r}"
    if parsed.scheme not in ("https", "http") or not host:
        return f"not an https URL: {url!r}"
    if parsed.scheme == "http" and not _is_loopback(host):
        return f"must be https (http only on a loopback address): {url!r}"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    if info.default == () or info.default == "":
        return "*(none)*" if md else "none"
    default = info.default
    text = " ".join(default) if isinstance(default, tuple) else _number(default)
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
