"""Property: any stream, cut into reads at any boundaries, gives the same answer."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_ls.llm import ChatClient, TextDelta
from tests.fakes.openai_server import FakeOpenAI, sse

from .conftest import chat_request, run

pieces = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
        min_size=1,
        max_size=12,
    ),
    min_size=1,
    max_size=8,
)


def _body(texts: list[str], line_end: bytes, space: bool) -> bytes:
    prefix = b"data: " if space else b"data:"
    frames = []
    for i, text in enumerate(texts):
        chunk = {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": text},
                    "finish_reason": "stop" if i == len(texts) - 1 else None,
                }
            ]
        }
        payload = json.dumps(chunk, ensure_ascii=False).encode("utf-8")
        frames.append(b": keep-alive" + line_end + line_end)
        frames.append(prefix + payload + line_end + line_end)
    frames.append(prefix + b"[DONE]" + line_end + line_end)
    return b"".join(frames)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    texts=pieces,
    cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=12),
    line_end=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    space=st.booleans(),
)
def test_sse_reassembly_over_random_read_boundaries(
    fake: FakeOpenAI, texts: list[str], cuts: list[int], line_end: bytes, space: bool
) -> None:
    body = _body(texts, line_end, space)
    offsets = sorted({c for c in cuts if c < len(body)})
    fake.script(sse([body], done=False, finish_reason=None, split_at=offsets))

    async def go() -> str:
        client = ChatClient(idle_timeout=5, retry_base_delay=0.01)
        try:
            result = await run(client, chat_request(fake.chat_url))
        finally:
            await client.aclose()
        assert result.error is None, result.error
        return "".join(e.text for e in result.events if isinstance(e, TextDelta))

    assert asyncio.run(go()) == "".join(texts)
