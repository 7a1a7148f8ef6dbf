"""The redaction every log line and message goes through."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qwen_ls.log import MAX_LOG_LINE, RedactingFormatter, redact, remember_secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Authorization: Bearer abc.def-ghi", "Authorization: ***", id="authorization-header"),
        pytest.param("token is Bearer eyJhbGciOi.x.y now", "token is Bearer *** now", id="bearer"),
        pytest.param('{"apiKey": "abcdef123"}', '{"apiKey": "***"}', id="json-api-key"),
        pytest.param("{'openaiApiKey': 'zzzzzzz'}", "{'openaiApiKey': '***'}", id="repr-editor-key"),
        pytest.param('"refresh_token": "rt-1234567"', '"refresh_token": "***"', id="refresh-token"),
        pytest.param("access_token=at-1234567,", "access_token=***,", id="key-value"),
        pytest.param("using sk-test-abcdef123 now", "using sk-*** now", id="sk-key-in-text"),
        pytest.param("http://user:hunter2@127.0.0.1:3128", "http://***:***@127.0.0.1:3128", id="url-credentials"),
        pytest.param('"apiKey": "sk-…0000"', '"apiKey": "sk-…0000"', id="masked-kept"),
        pytest.param("add OPENAI_API_KEY=<your key> to", "add OPENAI_API_KEY=<your key> to", id="placeholder-kept"),
        pytest.param('"apiKey": "OPENAI_API_KEY in /x/.env"', '"apiKey": "OPENAI_API_KEY in /x/.env"', id="variable-name-kept"),
        pytest.param("work_done_token=None", "work_done_token=None", id="none-kept"),
        pytest.param("plain words stay", "plain words stay", id="plain"),
    ],
)  # fmt: skip
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_remembered_secrets_are_masked_anywhere() -> None:
    remember_secret("custom-SECRET-value-42")
    assert redact("the key custom-SECRET-value-42 leaked") == "the key *** leaked"


def test_long_runs_are_redacted_in_linear_time() -> None:
    """A 10,000-character word once took seconds (quadratic); the test timeout
    catches a regression on these sizes."""
    for text in ("x" * 400_000, "token" * 80_000, "api_key" * 50_000):
        assert len(redact(text)) > 0


def test_formatter_redacts_then_cuts_long_records() -> None:
    formatter = RedactingFormatter("%(message)s")
    record = logging.LogRecord(
        "qwen_ls",
        logging.DEBUG,
        __file__,
        1,
        "key sk-test-abcdef " + "y" * 50_000,
        None,
        None,
    )
    text = formatter.format(record)
    assert "abcdef" not in text
    assert len(text) < MAX_LOG_LINE + 100 and text.endswith("more characters)")


def test_log_file_is_private(tmp_path: Path) -> None:
    import subprocess
    import sys

    log = tmp_path / "logs" / "qwen-ls.log"
    subprocess.run(
        [sys.executable, "-m", "qwen_ls", "-v", "--log-file", str(log)],
        input=b"",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert log.exists() and (log.stat().st_mode & 0o777) == 0o600
