"""Base URL checks and the one way ``/chat/completions`` is joined onto a base URL."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from qwen_ls.config.settings import unresolved

_SUFFIX = "/chat/completions"


def chat_completions_url(base_url: str) -> str:
    """``<base>/chat/completions`` with one slash, the query kept, the fragment dropped.

    A base that already ends in ``/chat/completions`` is used as is rather than doubled.
    """
    parts = urlsplit(base_url.strip())
    path = parts.path.rstrip("/")
    path = path.removesuffix(_SUFFIX).rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path + _SUFFIX, parts.query, ""))


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used as a base URL (never quoting it), or None."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "contains a control character (CR/LF?)"
    if (name := unresolved(url)) is not None:
        return f"contains the unresolved variable {name}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL with a host (e.g. https://api.openai.com/v1)"
    return None


def is_loopback(url: str) -> bool:
    """True for localhost and loopback addresses, where local servers need no key."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
