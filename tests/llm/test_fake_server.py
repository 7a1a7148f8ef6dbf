"""The fake server itself: it must deliver what the other tests rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.fakes.openai_server import FakeOpenAI, sse, status

ROOT = Path(__file__).resolve().parents[2]


async def test_split_pieces_arrive_as_separate_reads(fake: FakeOpenAI) -> None:
    body = b"data: [DONE]\n\n"
    fake.script(sse([body], done=False, split_at=[2, 3, 9], finish_reason=None))

    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", fake.chat_url, json={}) as response,
    ):
        reads = [chunk async for chunk in response.aiter_raw()]

    assert reads == [b"da", b"t", b"a: [DO", b"NE]\n\n"]


def test_routes_and_recording(fake: FakeOpenAI) -> None:
    fake.routes["GET /v1/models"] = status(405)

    with httpx.Client() as client:
        models = client.get(f"{fake.base_url}/models")
        other = client.delete(f"{fake.base_url}/files/1")

    assert models.status_code == 405
    assert other.status_code == 404
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/v1/models"),
        ("DELETE", "/v1/files/1"),
    ]
    assert fake.requests[0].header("HOST") == f"127.0.0.1:{fake.port}"


def test_standalone_mode_serves_a_canned_answer() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.openai_server",
            "--port",
            "0",
            "--tokens",
            "4",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        with httpx.Client() as client:
            models = client.get(f"{base_url}/models").json()
            answer = client.post(f"{base_url}/chat/completions", json={}).text
    finally:
        process.terminate()
        process.wait(timeout=5)

    assert models["data"] == [{"id": "fake-model", "object": "model"}]
    assert answer.count('"content"') == 4
    assert answer.endswith("data: [DONE]\n\n")
