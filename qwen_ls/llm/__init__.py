"""The OpenAI-compatible streaming client: requests, stream events and errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AuthError,
    BadResponseError,
    ConfigError,
    Kind,
    LLMError,
    NetworkError,
    RateLimitError,
    ServerError,
)
from .events import (
    ChatRequest,
    Finish,
    ReasoningDelta,
    Retrying,
    StreamEvent,
    TextDelta,
    Usage,
)

if TYPE_CHECKING:
    from .client import ChatClient


def __getattr__(name: str) -> Any:
    # The client needs httpx, whose import costs about as much as the rest of the
    # server's start-up beyond pygls: only the first chat pays for it.
    if name == "ChatClient":
        from .client import ChatClient

        return ChatClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AuthError",
    "BadResponseError",
    "ChatClient",
    "ChatRequest",
    "ConfigError",
    "Finish",
    "Kind",
    "LLMError",
    "NetworkError",
    "RateLimitError",
    "ReasoningDelta",
    "Retrying",
    "ServerError",
    "StreamEvent",
    "TextDelta",
    "Usage",
]
