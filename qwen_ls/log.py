"""Logging set-up, and the redaction that keeps secrets out of logs and messages.

Everything qwen-ls writes to a person (logs, window messages, errors, status) goes
through `redact`, which masks the secrets the server has seen and anything shaped like
a key, a bearer token or URL credentials.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

LOGGER_NAME = "qwen_ls"

_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    # Authorization headers and bearer tokens, whatever the token looks like.
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1***"),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\"',;\n]+"), r"\1***"),
    # JSON or key=value fields whose name says they are secret.
    (
        re.compile(
            r"(?i)(?<![\w.-])([\"']?[\w.-]{0,48}?(?:api[_-]?key|token|secret|password)"
            r"[\"']?\s*[:=]\s*)"
            r"([\"']?)([^\"'\s,;})]+)"
        ),
        lambda m: m.group(1) + m.group(2) + _mask_field(m.group(3)),
    ),
    # Provider keys in free text.
    (re.compile(r"\bsk-[A-Za-z0-9_-]{4,}"), "sk-***"),
    # user:password@ in URLs.
    # (A scheme starts where no scheme character stands before it: linear time.)
    (
        re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"),
        r"\1***:***@",
    ),
]


_NOT_SECRET = re.compile(
    r"^(?:[A-Z][A-Z0-9_]*|<.*|\$.*|(?i:null|none|true|false)|\d{1,6}|.*(?:…|\\u2026|\*\*\*).*)$"
)


def _mask_field(value: str) -> str:
    """Mask a secret-named field's value, unless it is plainly not a secret: a
    variable name, a placeholder, a number, a masked value."""
    return value if _NOT_SECRET.match(value) else "***"


class _Secrets:
    """The exact secret values seen at run time, masked wherever they appear."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < 6:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub("***", text)


secrets = _Secrets()


def remember_secret(value: str | None) -> None:
    """Register a secret so that `redact` masks it from now on."""
    secrets.add(value)


def redact(text: str) -> str:
    """Mask every known secret and anything that looks like one."""
    text = secrets.mask(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


MAX_LOG_LINE = 20_000


class RedactingFormatter(logging.Formatter):
    """Redacts every record, then cuts very long ones (a 5 MB answer at -vv)."""

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        if len(text) > MAX_LOG_LINE:
            cut = len(text) - MAX_LOG_LINE
            text = f"{text[:MAX_LOG_LINE]}… ({cut} more characters)"
        return text


def setup_logging(verbosity: int, log_file: str | None) -> None:
    """Log to stderr or a file, never stdout (stdout carries the LSP stream).

    0: warnings, 1 (-v): one INFO line per request, 2 (-vv): DEBUG, including the
    pygls and httpx loggers, which stay at WARNING otherwise because they log payloads.
    """
    handler: logging.Handler
    if log_file:
        path = Path(log_file).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        # -vv logs hold LSP traffic (code, answers): readable by the user only.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)

    ours = logging.getLogger(LOGGER_NAME)
    ours.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG))
    chatty = logging.DEBUG if verbosity >= 2 else logging.WARNING
    for name in ("pygls", "httpx", "httpcore", "asyncio"):
        logging.getLogger(name).setLevel(chatty)
