"""Fixtures for the model-client tests: a fake server, a fast client, and helpers
that run a request to completion and keep what it produced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from qwen_ls.llm import (
    ChatClient,
    ChatRequest,
    Finish,
    LLMError,
    ReasoningDelta,
    Retrying,
    StreamEvent,
    TextDelta,
    Usage,
)
from qwen_ls.llm import client as client_module
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test-SECRET0000"


@dataclass
class Result:
    """Everything one ``stream_chat`` call produced."""

    events: list[StreamEvent] = field(default_factory=list)
    error: LLMError | None = None

    @property
    def joined(self) -> list[StreamEvent]:
        """The events with each run of text (or reasoning) pieces joined: pieces that
        arrive in one network read come as one, so a test of the parsing compares
        these."""
        out: list[StreamEvent] = []
        for event in self.events:
            if isinstance(event, (TextDelta, ReasoningDelta)) and out:
                last = out[-1]
                if type(last) is type(event):
                    out[-1] = type(event)(last.text + event.text)  # type: ignore[union-attr]
                    continue
            out.append(event)
        return out

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    @property
    def reasoning(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, ReasoningDelta))

    @property
    def finish(self) -> Finish | None:
        last = self.events[-1] if self.events else None
        return last if isinstance(last, Finish) else None

    @property
    def usage(self) -> Usage | None:
        return next((e for e in self.events if isinstance(e, Usage)), None)

    @property
    def retries(self) -> list[Retrying]:
        return [e for e in self.events if isinstance(e, Retrying)]


async def run(client: ChatClient, req: ChatRequest) -> Result:
    result = Result()
    try:
        async for event in client.stream_chat(req):
            result.events.append(event)
    except LLMError as error:
        result.error = error
    return result


def chat_request(url: str, **overrides: Any) -> ChatRequest:
    values: dict[str, Any] = {
        "url": url,
        "api_key": KEY,
        "model": "qwen3-coder-plus",
        "messages": [{"role": "user", "content": "Say hello"}],
        "workspace": "/home/dev/project",
    }
    values.update(overrides)
    return ChatRequest(**values)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[ChatClient]:
    chat = ChatClient(idle_timeout=2.0, retry_base_delay=0.01, environ={})
    yield chat
    await chat.aclose()


@pytest.fixture
def req(fake: FakeOpenAI) -> ChatRequest:
    return chat_request(fake.chat_url)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry waits instead of spending them."""
    waits: list[float] = []

    async def fake_sleep(delay: float) -> None:
        waits.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(client_module, "_sleep", fake_sleep)
    return waits
