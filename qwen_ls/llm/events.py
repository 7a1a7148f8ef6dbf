"""The request sent to the model and the events its answer streams back as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass
class ChatRequest:
    """One chat completion to stream.

    ``url`` is the full endpoint (``…/v1/chat/completions``). ``api_key`` is sent as
    ``Authorization: Bearer`` when not None. ``extra_body`` is merged last into the
    JSON body (a value of None removes the key, e.g. ``{"stream_options": None}``
    for providers that reject it); ``extra_headers`` are merged last into the
    headers. ``workspace`` only labels log lines.
    """

    url: str
    api_key: str | None
    model: str
    messages: list[dict[str, Any]]
    extra_body: dict[str, Any] = field(default_factory=dict)
    extra_headers: dict[str, str] = field(default_factory=dict)
    workspace: str = ""


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer text."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning (``reasoning_content``/``reasoning``); never
    part of the answer."""

    text: str


@dataclass(frozen=True)
class Usage:
    """Token counts reported by the server, sent just before :class:`Finish`."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class Finish:
    """The answer is complete; always the last event. ``reason`` is the server's
    ``finish_reason`` (``"stop"`` when it sent none), e.g. ``"length"`` when the
    answer hit the token limit."""

    reason: str


@dataclass(frozen=True)
class Retrying:
    """The request failed before any answer arrived and will be sent again after
    ``delay`` seconds; ``attempt`` counts retries from 1, ``reason`` is short text
    such as ``"rate limited"`` or ``"HTTP 503"``."""

    attempt: int
    delay: float
    reason: str


StreamEvent: TypeAlias = TextDelta | ReasoningDelta | Usage | Finish | Retrying
