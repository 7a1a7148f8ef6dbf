"""The OpenAI-compatible streaming client: requests, stream events and errors."""

from __future__ import annotations

from .client import ChatClient
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
