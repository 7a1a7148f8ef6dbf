"""Fixtures for the sign-in tests: the fake OAuth server, an HTTP client, a fake
clock, and helpers to write credentials files as the Qwen Code CLI does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.oauth_server import FakeOAuth


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> Iterator[FakeOAuth]:
    with FakeOAuth() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def write_cli_creds(home: Path, **fields: Any) -> Path:
    """Write ``~/.qwen/oauth_creds.json`` the way the CLI does (2-space JSON)."""
    data: dict[str, Any] = {
        "access_token": "at-test-0001",
        "refresh_token": "rt-test-0001",
        "token_type": "Bearer",
        "resource_url": "portal.qwen.ai",
        "expiry_date": now_ms() - 1000,
    }
    data.update(fields)
    data = {key: value for key, value in data.items() if value is not None}
    path = home / ".qwen" / "oauth_creds.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def read_creds(home: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        (home / ".qwen" / "oauth_creds.json").read_text()
    )
    return result
