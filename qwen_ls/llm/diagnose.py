"""Turning what a server answered (an HTTP error, or an error object inside a stream)
into an :class:`LLMError` whose message says what went wrong and what to try."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

from .errors import (
    AuthError,
    LLMError,
    RateLimitError,
    ServerError,
    provider_text,
)

_CONTEXT_LENGTH = re.compile(
    r"(?i)context[ _-]?(length|window)|maximum context|too many tokens"
    r"|prompt is too long|input is too long|request too large|exceeds the (maximum|max)"
)
_TRANSIENT = re.compile(
    r"(?i)overload|rate[ _-]?limit|too many requests|try again|temporar|unavailable"
    r"|capacity|throttl|busy|\b(429|500|502|503|504|529|1302|1305)\b"
)
_VERSION_SEGMENT = re.compile(r"/v\d+(/|$)")
_DASHSCOPE_HOST = re.compile(r"(^|\.)dashscope(-intl|-us)?\.aliyuncs\.com$")
_HTML_TITLE = re.compile(r"(?is)<title[^>]*>(.*?)</title>")
_HTML_TAG = re.compile(r"(?s)<[^>]+>")

CONTEXT_HINT = (
    "the request is too long for the model's context window; "
    "send a smaller selection or fewer files"
)


def host_label(url: httpx.URL) -> str:
    """``host`` or ``host:port`` when the port is not the scheme's default."""
    host = url.host
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{url.port}" if url.port is not None else host


def display_url(url: httpx.URL) -> str:
    """The URL without credentials and without query values, safe to show."""
    shown = f"{url.scheme}://{host_label(url)}{url.path}"
    return f"{shown}?…" if url.query else shown


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def error_fields(obj: Any) -> tuple[str, str]:
    """The message and the code/type of an error object in any common shape:
    ``{"error": {"message", "code", "type"}}``, ``{"error": "text"}``,
    ``{"object": "error", "message": ...}``, ``{"detail": ...}``."""
    if not isinstance(obj, dict):
        return "", ""
    inner = obj.get("error")
    if isinstance(inner, dict):
        source: dict[str, Any] = inner
    elif isinstance(inner, str) and inner:
        return inner, ""
    else:
        source = obj
    message = source.get("message") or source.get("msg") or source.get("detail") or ""
    if not isinstance(message, str):
        message = json.dumps(message, ensure_ascii=False)
    code = " ".join(str(source[k]) for k in ("code", "type") if source.get(k))
    return message, code


def body_message(body: bytes, secrets: Iterable[str] = ()) -> tuple[str, str]:
    """The provider's message (scrubbed, one line, at most ~300 chars) and error code
    from an error response body of any content type; ("", "") when empty."""
    obj = _json(body)
    message, code = error_fields(obj)
    if not message and obj is None:
        text = body.decode("utf-8", errors="replace")
        title = _HTML_TITLE.search(text)
        message = title.group(1) if title else _HTML_TAG.sub(" ", text)
    return provider_text(message, secrets), code


def is_context_length(text: str) -> bool:
    return bool(_CONTEXT_LENGTH.search(text))


def is_transient(text: str) -> bool:
    """Whether an in-stream error looks like overload or throttling (worth one retry
    before anything was shown) rather than a deterministic rejection."""
    return bool(_TRANSIENT.search(text)) and not is_context_length(text)


def not_found_hints(url: httpx.URL) -> list[str]:
    """Likely fixes for a 404 from ``url`` (a …/chat/completions URL)."""
    base_path = url.path.removesuffix("/chat/completions")
    base = f"{url.scheme}://{host_label(url)}{base_path}"
    hints = []
    if _DASHSCOPE_HOST.search(url.host) and base_path.startswith("/api/v1"):
        compatible = f"{url.scheme}://{host_label(url)}/compatible-mode/v1"
        hints.append(f"for OpenAI-compatible access use {compatible}")
    elif (
        not _VERSION_SEGMENT.search(base_path + "/")
        and "/deployments/" not in base_path
    ):
        hints.append(f"did you mean {base.rstrip('/')}/v1 ?")
    return hints


def http_error(
    status: int,
    url: httpx.URL,
    body: bytes,
    *,
    secrets: Iterable[str] = (),
    retry_after: float | None = None,
) -> LLMError:
    """The error for a non-2xx answer to a request for ``url``."""
    message, code = body_message(body, secrets)
    detail = f": {message}" if message else " (empty body)"

    if status in (401, 403):
        return AuthError(
            f"HTTP {status} from {host_label(url)}{detail}", status=status, code=code
        )

    if status == 429:
        return RateLimitError(
            f"rate limited by {host_label(url)} (HTTP 429){detail}",
            status=status,
            retry_after=retry_after,
            code=code,
        )

    if status == 404:
        text = "; ".join(
            [f"HTTP 404 from {display_url(url)}{detail}", *not_found_hints(url)]
        )
        return ServerError(text, status=status)

    text = f"HTTP {status} from {host_label(url)}{detail}"
    if status in (400, 413, 422) and (
        status == 413 or is_context_length(message + code)
    ):
        text = f"{text}; {CONTEXT_HINT}"
    return ServerError(text, status=status)


def stream_error(obj: Any, url: httpx.URL, secrets: Iterable[str] = ()) -> ServerError:
    """The error for an error object that arrived inside a 200 event stream."""
    message, code = error_fields(obj)
    if not message:
        message = code or json.dumps(obj, ensure_ascii=False)[:200]
    shown = provider_text(message, secrets)
    text = f"error from {host_label(url)}: {shown}"
    if is_context_length(f"{message} {code}"):
        text = f"{text}; {CONTEXT_HINT}"
    return ServerError(text)


def is_quota_exhausted(body: bytes) -> bool:
    """A 429 that retrying cannot fix (OpenAI/Qwen ``insufficient_quota``)."""
    _, code = error_fields(_json(body))
    return "insufficient_quota" in code or b"insufficient_quota" in body[:4096]
