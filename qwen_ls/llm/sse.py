"""Interpreting the events of an OpenAI-style chat completion stream.

httpx-sse splits the byte stream into events (comments, ``data:`` with or without the
space, CRLF, reads cut anywhere); :class:`ChunkDecoder` turns each event's data into
:class:`~qwen_ls.llm.events.StreamEvent` values and decides how the stream ended.
What arrived between two :meth:`ChunkDecoder.take` calls comes out merged, so that
the work per token stays in this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import groupby
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
    """State of one streamed answer: feed it each event, :meth:`take` what it decoded
    (as often as suits the reader), then call :meth:`finish`.

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
        # Not yet taken, in order: answer text as str, reasoning as ReasoningDelta.
        self._pending: list[str | ReasoningDelta] = []

    @property
    def shown(self) -> bool:
        """Whether any answer or reasoning text was produced (then no retry)."""
        return bool(self._parts) or self._reasoning

    @property
    def partial_text(self) -> str:
        return "".join(self._parts)

    def take(self) -> list[StreamEvent]:
        """The text and reasoning decoded since the last call, each run of pieces
        joined into one delta."""
        if not self._pending:
            return []
        pending, self._pending = self._pending, []
        events: list[StreamEvent] = []
        for is_text, run in groupby(pending, key=lambda item: type(item) is str):
            joined = "".join(p if isinstance(p, str) else p.text for p in run)
            events.append(TextDelta(joined) if is_text else ReasoningDelta(joined))
        return events

    def feed(self, event: str, data: str) -> None:
        """Decode one SSE event (``event`` is its type)."""
        if self.done or not data:
            return
        try:
            obj = json.loads(data)
        except ValueError:
            self._not_json(event, data)
            return
        if type(obj) is not dict:
            return
        if event == "error" or obj.get("error") or obj.get("object") == "error":
            raise self._error(obj)
        self._chunk(obj)

    def _not_json(self, event: str, data: str) -> None:
        if data.strip() == "[DONE]":
            self.done = True
        elif event == "error":
            raise self._error({"message": data})
        elif event == "message":
            raise BadResponseError(
                f"unreadable event from {host_label(self.url)} (not JSON)",
                partial_text=self.partial_text,
            )
        # else: an unknown event type with a non-JSON payload, e.g. a ping

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
        self._chunk(obj)
        self.done = True
        return self.take()

    def _chunk(self, obj: dict[str, Any]) -> None:
        # Called for every token: the common case (one choice, plain text content,
        # no usage) takes the fewest steps.
        choices = obj.get("choices")
        if choices and type(choices) is list:
            choice = choices[0]
            if type(choice) is dict:
                self._choice(choice)
        if "usage" in obj:
            self._usage(obj["usage"])

    def _choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        if type(delta) is dict:
            if "reasoning_content" in delta or "reasoning" in delta:
                self._add_reasoning(delta)
            content = delta.get("content")
            if content and (type(content) is str or (content := _text(content))):
                self._parts.append(content)
                self._pending.append(content)
        reason = choice.get("finish_reason")
        if reason and type(reason) is str:
            self.finish_reason = reason

    def _add_reasoning(self, delta: dict[str, Any]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and (reasoning := _text(reasoning)):
            self._reasoning = True
            self._pending.append(ReasoningDelta(reasoning))

    def _usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            prompt = _int(usage.get("prompt_tokens"))
            completion = _int(usage.get("completion_tokens"))
            total = _int(usage.get("total_tokens")) or prompt + completion
            self.usage = Usage(prompt, completion, total)

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
