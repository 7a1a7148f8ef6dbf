"""Interpreting the events of an OpenAI-style chat completion stream.

httpx-sse splits the byte stream into events (comments, ``data:`` with or without the
space, CRLF, reads cut anywhere); :class:`ChunkDecoder` turns each event's data into
:class:`~qwen_ls.llm.events.StreamEvent` values and decides how the stream ended.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx

from .diagnose import host_label, is_transient, stream_error
from .errors import BadResponseError, ServerError
from .events import Finish, ReasoningDelta, StreamEvent, TextDelta, Usage

TRUNCATED = "response truncated (connection closed)"
REASONING_ONLY = "model returned reasoning but no answer"
EMPTY_ANSWER = "model returned an empty answer"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content given as parts: [{"type": "text", ...}]
        return "".join(
            p.get("text") or ""
            for p in value
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class ChunkDecoder:
    """State of one streamed answer: feed it each event, then call :meth:`finish`.

    Raises :class:`ServerError` for an error object in the stream and
    :class:`BadResponseError` for data it cannot use; both carry the text so far.
    """

    def __init__(self, url: httpx.URL, secrets: Iterable[str] = ()) -> None:
        self.url = url
        self.secrets = tuple(secrets)
        self.done = False
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.error_transient = False
        self._parts: list[str] = []
        self._reasoning = False

    @property
    def shown(self) -> bool:
        """Whether any answer or reasoning text was produced (then no retry)."""
        return bool(self._parts) or self._reasoning

    @property
    def partial_text(self) -> str:
        return "".join(self._parts)

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        """The stream events for one SSE event (``event`` is its type)."""
        if not data or self.done:
            return []
        if data.strip() == "[DONE]":
            self.done = True
            return []
        try:
            obj = json.loads(data)
        except ValueError:
            if event not in ("message", "error"):
                return []  # an unknown event type with a non-JSON payload, e.g. a ping
            if event == "error":
                raise self._error({"message": data}) from None
            raise BadResponseError(
                f"unreadable event from {host_label(self.url)} (not JSON)",
                partial_text=self.partial_text,
            ) from None
        if not isinstance(obj, dict):
            return []
        if event == "error" or obj.get("error") or obj.get("object") == "error":
            raise self._error(obj)
        return self._chunk(obj)

    def feed_completion(self, body: bytes) -> list[StreamEvent]:
        """The events for a whole non-streamed completion (a server that ignored
        ``stream: true`` and answered ``application/json``)."""
        try:
            obj = json.loads(body)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise BadResponseError(
                f"{host_label(self.url)} answered with neither an event stream nor JSON"
            )
        if obj.get("error") or obj.get("object") == "error":
            raise self._error(obj)
        choices = obj.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict):
                choices[0]["delta"] = message
        events = self._chunk(obj)
        self.done = True
        return events

    def _chunk(self, obj: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        choices = obj.get("choices")
        if isinstance(choices, list) and choices:
            choice = choices[0]
            if isinstance(choice, dict):
                events = self._choice(choice)
        usage = obj.get("usage")
        if isinstance(usage, dict):
            prompt = _int(usage.get("prompt_tokens"))
            completion = _int(usage.get("completion_tokens"))
            total = _int(usage.get("total_tokens")) or prompt + completion
            self.usage = Usage(prompt, completion, total)
        return events

    def _choice(self, choice: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        delta = choice.get("delta")
        if isinstance(delta, dict):
            # Called for every token: `_text` only for values that are not plain.
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning and (reasoning := _text(reasoning)):
                self._reasoning = True
                events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content and (type(content) is str or (content := _text(content))):
                self._parts.append(content)
                events.append(TextDelta(content))
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.finish_reason = reason
        return events

    def _error(self, obj: Any) -> ServerError:
        error = stream_error(obj, self.url, self.secrets)
        self.error_transient = is_transient(json.dumps(obj, ensure_ascii=False))
        error.partial_text = self.partial_text
        return error

    def finish(self) -> list[StreamEvent]:
        """The closing events once the stream ended (``[DONE]`` or end of body);
        raises when the answer is truncated or has no text."""
        if not self.done and self.finish_reason is None:
            raise BadResponseError(TRUNCATED, partial_text=self.partial_text)
        reason = self.finish_reason or "stop"
        if not self._parts:
            message = REASONING_ONLY if self._reasoning else EMPTY_ANSWER
            if reason != "stop":
                message = f"{message} (finish reason: {reason})"
            raise BadResponseError(message)
        closing: list[StreamEvent] = [Finish(reason)]
        if self.usage is not None:
            closing.insert(0, self.usage)
        return closing
