"""How long to wait before retrying: the server's hints and our own backoff."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping


def is_retryable_status(status: int) -> bool:
    """Statuses worth another try (besides 429): timeouts, conflicts and server
    errors, except the deterministic 501 and 505."""
    return status in (408, 409) or (status >= 500 and status not in (501, 505))


# Azure: "Please retry after 33 seconds"; OpenAI: "Please try again in 6.5s".
_MESSAGE_HINT = re.compile(
    r"(?i)(?:retry|try again)\s+(?:after|in)\s+(\d+(?:\.\d+)?)\s*"
    r"(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)?\b"
)


def _seconds(value: str, unit: str) -> float:
    unit = unit.lower()
    number = float(value)
    if unit.startswith("ms") or unit.startswith("milli"):
        return number / 1000
    if unit.startswith("m"):
        return number * 60
    return number


def retry_after(
    headers: Mapping[str, str], message: str = "", now: float | None = None
) -> float | None:
    """The wait the server asked for, in seconds, or None when it gave no hint.

    Checked in order: ``retry-after-ms``, ``Retry-After`` (seconds or an HTTP date),
    then "retry after N seconds" / "try again in Ns" in the error message.
    """
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return _finite(float(millis) / 1000)
        except ValueError:
            pass

    header = (headers.get("retry-after") or "").strip()
    if header:
        try:
            return _finite(float(header))
        except ValueError:
            date = email.utils.parsedate_tz(header)
            if date is not None:
                now = time.time() if now is None else now
                return max(0.0, email.utils.mktime_tz(date) - now)

    match = _MESSAGE_HINT.search(message)
    if match:
        return _seconds(match.group(1), match.group(2) or "s")
    return None


def _finite(seconds: float) -> float | None:
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff(retry: int, base: float) -> float:
    """Exponential backoff for the ``retry``-th retry (1, 2, …): base, 2·base, …"""
    return base * (2 ** (retry - 1))


def human_duration(seconds: float) -> str:
    """``7 s``, ``1.5 s``, ``2 min``, ``1 h``, ``1 h 30 min``."""
    if seconds < 60:
        return f"{round(seconds, 1):g} s"
    if seconds < 3600:
        return f"{math.ceil(seconds / 60)} min"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
