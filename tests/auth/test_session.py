"""Which Qwen OAuth server the process uses: QWEN_OAUTH_BASE_URL, checked before use."""

from __future__ import annotations

import pytest

from qwen_ls.auth.session import DEFAULT_BASE, OAuthBaseUrlError, oauth_base_url


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, DEFAULT_BASE, id="unset"),
        pytest.param("  ", DEFAULT_BASE, id="blank"),
        pytest.param("http://127.0.0.1:8765/", "http://127.0.0.1:8765", id="loopback"),
        pytest.param("https://oauth.example/", "https://oauth.example", id="https"),
    ],
)
def test_the_oauth_server(value: str | None, expected: str) -> None:
    environ = {} if value is None else {"QWEN_OAUTH_BASE_URL": value}
    assert oauth_base_url(environ) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        pytest.param("ftp://x", "is not an http(s) URL", id="scheme"),
        pytest.param("http://", "is not an http(s) URL", id="no-host"),
        pytest.param("127.0.0.1:8765", "is not an http(s) URL", id="no-scheme"),
        # Found by a new user: once an internal error from deep in the HTTP stack.
        pytest.param("http://127.0.0.1:99999", "is not a valid URL", id="port-range"),
        pytest.param("http://127.0.0.1:port", "is not a valid URL", id="port-text"),
    ],
)
def test_an_unusable_oauth_server_is_named_with_the_fix(value: str, says: str) -> None:
    with pytest.raises(OAuthBaseUrlError) as raised:
        oauth_base_url({"QWEN_OAUTH_BASE_URL": value})
    assert str(raised.value).startswith(
        f"QWEN_OAUTH_BASE_URL in the server's environment {says}"
    )
    assert str(raised.value).endswith("correct or unset it")
