"""Chat: the prompt sent to the model, and one streamed answer relayed to the editor."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from qwen_ls.llm import (
    ChatRequest,
    Finish,
    LLMError,
    ReasoningDelta,
    Retrying,
    StreamEvent,
    TextDelta,
    Usage,
)
from qwen_ls.progress import RequestProgress

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are Qwen Code, a coding assistant working inside the user's editor. "
    "Answer precisely and briefly. When you show code, use fenced code blocks "
    "with the language name."
)


class ChatStreamer(Protocol):
    """A ChatClient, or one that adds credentials (features/oauth_chat.py)."""

    def stream_chat(self, req: ChatRequest) -> AsyncIterator[StreamEvent]: ...


@dataclass(frozen=True)
class CodeContext:
    """Code from the user's editor sent along with a prompt."""

    path: str
    language: str
    text: str
    lines: tuple[int, int] | None = None  # 1-based, inclusive, when a range was given


@dataclass
class ChatOutcome:
    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    cancelled: bool = False
    deltas: list[str] = field(default_factory=list)

    def result(self, session_id: str, model: str) -> dict[str, Any]:
        result: dict[str, Any] = {
            "sessionId": session_id,
            "model": model,
            "text": self.text,
            "finishReason": "cancelled" if self.cancelled else self.finish_reason,
        }
        if self.reasoning:
            result["reasoning"] = self.reasoning
        if self.usage is not None:
            result["usage"] = self.usage
        return result


def user_message(prompt: str, context: CodeContext | None) -> str:
    if context is None:
        return prompt
    where = context.path
    if context.lines is not None:
        first, last = context.lines
        where += f", lines {first}-{last}" if last != first else f", line {first}"
    fence = "````" if "```" in context.text else "```"
    newline = "" if context.text.endswith("\n") else "\n"
    return (
        f"Context from {where}:\n{fence}{context.language}\n{context.text}"
        f"{newline}{fence}\n\n{prompt}"
    )


async def stream_answer(
    client: ChatStreamer,
    request: ChatRequest,
    progress: RequestProgress,
    *,
    session_id: str,
) -> ChatOutcome:
    """Stream one answer into the progress channels.

    A `window/workDoneProgress/cancel` ends the upstream stream and returns what had
    arrived, marked cancelled; cancelling the calling task (`$/cancelRequest`) ends
    the stream as well and propagates.
    """
    outcome = ChatOutcome()
    consumer = asyncio.ensure_future(
        _consume(client, request, progress, outcome, session_id)
    )

    def cancel_from_progress() -> None:
        if not consumer.done():
            outcome.cancelled = True
            consumer.cancel()

    await progress.begin("Waiting for the model…", on_cancel=cancel_from_progress)
    try:
        await consumer
    except asyncio.CancelledError:
        if not outcome.cancelled or not consumer.cancelled():
            progress.end("Cancelled")
            raise
        progress.end("Cancelled")
        return outcome
    except LLMError as exc:
        progress.end(f"Failed: {exc}")
        raise
    except BaseException:
        progress.end("Failed")
        raise

    progress.end(_end_message(outcome))
    return outcome


async def _consume(
    client: ChatStreamer,
    request: ChatRequest,
    progress: RequestProgress,
    outcome: ChatOutcome,
    session_id: str,
) -> None:
    text_parts: list[str] = []
    reasoning_parts: list[str] = []
    extra = {"sessionId": session_id}

    def live_status() -> str:
        return "".join(text_parts[-20:])

    try:
        async for event in client.stream_chat(request):
            if isinstance(event, TextDelta):
                text_parts.append(event.text)
                progress.partial("delta", event.text, **extra)
                progress.report_lazy(live_status)
            elif isinstance(event, ReasoningDelta):
                reasoning_parts.append(event.text)
                progress.partial("reasoning", event.text, **extra)
                progress.report("Thinking…")
            elif isinstance(event, Usage):
                outcome.usage = {
                    "promptTokens": event.prompt_tokens,
                    "completionTokens": event.completion_tokens,
                    "totalTokens": event.total_tokens,
                }
            elif isinstance(event, Finish):
                outcome.finish_reason = event.reason
            elif isinstance(event, Retrying):
                progress.report(f"{event.reason}, retrying in {event.delay:.0f} s")
    finally:
        outcome.text = "".join(text_parts)
        outcome.reasoning = "".join(reasoning_parts)


def _end_message(outcome: ChatOutcome) -> str:
    if outcome.finish_reason == "length":
        return "Stopped: max tokens reached"
    if outcome.usage:
        return f"Done ({outcome.usage['completionTokens']} tokens)"
    return "Done"
