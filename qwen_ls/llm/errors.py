"""Errors raised by the model client, one class per kind of fault, and the scrubber
that keeps keys, tokens and proxy passwords out of their messages."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

Kind = Literal["config", "auth", "rateLimit", "network", "server", "badResponse"]

MAX_PROVIDER_MESSAGE = 300


class LLMError(Exception):
    """A chat or model-list request failed.

    ``str(error)`` is a message a person can act on; it never contains an API key,
    token or Authorization value. ``partial_text`` is the answer text streamed before
    the failure (empty when nothing arrived). ``code`` is the provider's error code
    and type (e.g. ``insufficient_quota``) when its answer had one.
    """

    kind: Kind = "server"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        partial_text: str = "",
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.partial_text = partial_text
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


class ConfigError(LLMError):
    """The request cannot be sent as configured: a URL that is not http(s), a proxy
    URL or CA bundle that cannot be used. Nothing was sent."""

    kind: Kind = "config"


class AuthError(LLMError):
    """The server answered 401 or 403: the key or token is missing, wrong, expired or
    has no access to the model."""

    kind: Kind = "auth"


class RateLimitError(LLMError):
    """The server answered 429 and retrying did not help, the requested wait exceeds
    the client's limit, or the quota is exhausted. ``retry_after`` is the server's
    hint in seconds when it gave one."""

    kind: Kind = "rateLimit"


class NetworkError(LLMError):
    """The server could not be reached or went silent: connection refused or reset,
    DNS, proxy or TLS failure, or no data for longer than the idle timeout."""

    kind: Kind = "network"


class ServerError(LLMError):
    """The server answered with an error: a 5xx after retries, 404, another 4xx, or an
    error object inside an otherwise successful event stream."""

    kind: Kind = "server"


class BadResponseError(LLMError):
    """The server's answer cannot be used: truncated stream, unparseable event, wrong
    content type, or reasoning without any answer text."""

    kind: Kind = "badResponse"


# A scheme starts where no scheme character stands before it; with \b every letter of
# "a.b.c…" would start a scan to the end, quadratic in the text's length.
_USERINFO = re.compile(
    r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)[^/@\s:]*(?::[^/@\s]*)?@"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{6,}")
_JSON_SECRET = re.compile(
    r'(?i)("[^"]*(?:token|key|secret|authorization|password)[^"]*"\s*:\s*")[^"]*(")'
)
_HEADER_SECRET = re.compile(
    r"(?im)\b(authorization|proxy-authorization|api-key|x-api-key)\s*[:=]\s*\S.*$"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def redacted(secret: str) -> str:
    """A recognisable but harmless form of ``secret``: its prefix and last 4 chars."""
    if len(secret) <= 8:
        return "…"
    prefix = secret[:3] if secret[2:3] == "-" else ""
    return f"{prefix}…{secret[-4:]}"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secrets and anything shaped like a credential from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, redacted(secret))
    text = _USERINFO.sub(r"\1***@", text)
    text = _BEARER.sub(r"\1 …", text)
    text = _KEY_LIKE.sub(lambda m: redacted(m.group(0)), text)
    text = _JSON_SECRET.sub(r"\1…\2", text)
    return _HEADER_SECRET.sub(r"\1: …", text)


def provider_text(text: str, secrets: Iterable[str] = ()) -> str:
    """A provider's error message made safe to show: one line, scrubbed, truncated."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    text = scrub(text, secrets)
    if len(text) > MAX_PROVIDER_MESSAGE:
        text = text[: MAX_PROVIDER_MESSAGE - 1].rstrip() + "…"
    return text
