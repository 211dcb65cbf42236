"""Log lines: ``membership.log_format = text`` (the ini's format) or ``json``.

``json`` puts a ``JsonFormatter`` on every handler the logging configuration
made (``install``): one JSON object per line with ``time`` (UTC, RFC 3339),
``level``, ``logger``, ``message`` and ``pid`` (which gunicorn worker), plus,
on the access line of each request, ``request_id``, ``user``, ``method``,
``path``, ``route`` (the template, as in the metrics), ``status``,
``duration_ms``, ``client`` and ``retries``; other lines logged while a
request runs carry its ``request_id``, ``method`` and ``client``. A
traceback is in ``exception``.

Nothing secret reaches a line, in either format: the access line never holds
a header, and every message is passed through ``redact``, which blanks
Basic/Bearer credentials, personal access tokens (``mbr_...``) and
``password=...``-style pairs, whoever logged them.

Under gunicorn the master's own lines (booting, workers exiting) are
formatted by the ini before any app is loaded; for JSON there too, name
``membership.web.logs.JsonFormatter`` as the ``class`` of the ini's formatter.
"""

import contextvars
import json
import logging
import re
import time

#: The fields of the request this thread is serving (set by the request tween, json only).
REQUEST: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "membership_request", default=None
)

_SECRET = re.compile(
    r"(?i)(?P<auth>\bauthorization\"?\s*[:=]\s*\"?)[^\"\r\n,;}]+"
    r"|(?P<scheme>\b(?:basic|bearer))\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\bmbr_[A-Za-z0-9_-]+"
    r"|(?P<key>\b(?:password|passwd|secret|token)\"?\s*[:=]\s*)(?:\"[^\"]*\"|[^\s\",;}&]+)"
)
_HINTS = ("basic", "bearer", "mbr_", "authorization", "passw", "secret", "token")


def _blank(match: re.Match) -> str:
    if match.group("auth"):
        return match.group("auth") + "[redacted]"
    if match.group("scheme"):
        return match.group("scheme") + " [redacted]"
    key = match.group("key")
    if key:
        quoted = match.group(0)[len(key) :].startswith('"')
        return key + ('"[redacted]"' if quoted else "[redacted]")
    return "[redacted]"


def _might_hold_secrets(text: str) -> bool:
    lowered = text.lower()
    return any(hint in lowered for hint in _HINTS)


def redact(text: str) -> str:
    """``text`` without credentials, tokens or ``password=...`` values."""
    return _SECRET.sub(_blank, text) if _might_hold_secrets(text) else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line; see the module docstring for the fields."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        fields = getattr(record, "membership", None)
        if fields is None:
            fields = REQUEST.get()
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = redact(record.exc_text)
        if record.stack_info:
            out["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"), default=str)


def _rfc3339(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class RedactingFilter(logging.Filter):
    """For text handlers: the message of every record, rendered and redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _might_hold_secrets(message):
            cleaned = _SECRET.sub(_blank, message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_REDACTING = RedactingFilter()


def _handlers() -> list[logging.Handler]:
    """Every handler the logging configuration attached, the root's and any logger's."""
    found = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            found.extend(logger.handlers)
    unique = {id(handler): handler for handler in found}
    return list(unique.values())


def install(log_format: str) -> None:
    """Make the configured handlers write ``log_format``; idempotent."""
    for handler in _handlers():
        if _REDACTING not in handler.filters:
            handler.addFilter(_REDACTING)
        if log_format == "json" and not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(JsonFormatter())
