"""B45: joining /chat/completions onto a base URL."""

from __future__ import annotations

import pytest

from qwen_ls.config import chat_completions_url


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        pytest.param(
            "https://api.openai.com/v1",
            "https://api.openai.com/v1/chat/completions",
            id="v1",
        ),
        pytest.param(
            "https://api.openai.com/v1/",
            "https://api.openai.com/v1/chat/completions",
            id="trailing-slash",
        ),
        pytest.param(
            "https://api.openai.com/v1//",
            "https://api.openai.com/v1/chat/completions",
            id="two-trailing-slashes",
        ),
        pytest.param(
            "https://openrouter.ai/api/v1/",
            "https://openrouter.ai/api/v1/chat/completions",
            id="path-prefix",
        ),
        pytest.param(
            "https://dashscope.aliyuncs.com/compatible-mode/v1",
            "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions",
            id="dashscope-compatible-mode",
        ),
        pytest.param(
            "https://api-inference.modelscope.cn/v1",
            "https://api-inference.modelscope.cn/v1/chat/completions",
            id="modelscope",
        ),
        pytest.param(
            "http://127.0.0.1:8000/v1/chat/completions",
            "http://127.0.0.1:8000/v1/chat/completions",
            id="suffix-already-there-stripped",
        ),
        pytest.param(
            "http://127.0.0.1:8000/v1/chat/completions/",
            "http://127.0.0.1:8000/v1/chat/completions",
            id="suffix-with-slash",
        ),
        pytest.param(
            "http://127.0.0.1:11434",
            "http://127.0.0.1:11434/chat/completions",
            id="no-path",
        ),
        pytest.param(
            "http://127.0.0.1:11434/",
            "http://127.0.0.1:11434/chat/completions",
            id="root-slash",
        ),
        pytest.param(
            "https://r.openai.azure.com/openai/deployments/d?api-version=2024-06-01",
            "https://r.openai.azure.com/openai/deployments/d/chat/completions"
            "?api-version=2024-06-01",
            id="query-kept",
        ),
        pytest.param(
            "https://h.test/v1/?a=1&b=2#frag",
            "https://h.test/v1/chat/completions?a=1&b=2",
            id="query-kept-fragment-dropped",
        ),
        pytest.param(
            "https://h.test/v1#frag",
            "https://h.test/v1/chat/completions",
            id="fragment-dropped",
        ),
        pytest.param(
            "https://h.test:8443/v1",
            "https://h.test:8443/v1/chat/completions",
            id="port-kept",
        ),
    ],
)
def test_B45_chat_completions_url(base: str, expected: str) -> None:
    url = chat_completions_url(base)
    assert url == expected
    assert "//" not in url.split("://", 1)[1]
