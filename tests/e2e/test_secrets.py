"""B63: no key, token or Authorization value in any log line, message, status, result or
error, whatever the command and however it fails, at the most verbose log level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.harness import QwenTestClient, lsp_session, write_env
from tests.fakes.openai_server import FakeOpenAI, status, text_stream

FILE_KEY = "sk-test-SECRET0000fileabc"
EDITOR_KEY = "editor-SECRET1111-no-prefix"
SECRETS = ("SECRET0000", "SECRET1111", "hunter2")


async def _exercise(
    client: QwenTestClient, fake: FakeOpenAI, workspace: Path
) -> list[object]:
    seen: list[object] = []
    source = workspace / "a.py"
    source.write_text("def f():\n    return 1\n", encoding="utf-8")
    uri = source.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=source.read_text()
            )
        )
    )
    fake.script(
        text_stream("fine"),
        status(401, {"error": {"message": f"Incorrect API key provided: {FILE_KEY}"}}),
        status(
            429, {"error": {"message": "slow down"}}, headers={"Retry-After": "999"}
        ),
        status(400, {"error": {"message": "bad"}}),
        text_stream("```python\ndef f():\n    return 2\n```"),
    )
    seen.append(
        await client.command(
            "qwen.chat", {"prompt": "hi", "partialResultToken": client.partial_token()}
        )
    )
    for _ in range(3):
        error = await client.command_error("qwen.chat", {"prompt": "again"})
        seen += [error.message, error.data]
    seen.append(await client.command("qwen.status", {"uri": uri}))
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(0, 0), types.Position(1, 12)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    seen.append(repr(actions))
    seen.append(
        await client.command(
            "qwen.edit",
            {
                "uri": uri,
                "range": {
                    "start": {"line": 0, "character": 0},
                    "end": {"line": 2, "character": 0},
                },
                "instruction": "return 2",
            },
        )
    )
    bad = await client.command_error("qwen.chat", {"prompt": "x", "apiKey": EDITOR_KEY})
    seen.append(bad.message)
    return seen


@pytest.mark.parametrize(
    "with_editor_key", [False, True], ids=["env-file-key", "editor-key"]
)
async def test_B63_no_secret_anywhere(
    fake: FakeOpenAI,
    workspace: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    with_editor_key: bool,
) -> None:
    write_env(
        workspace, f"OPENAI_API_KEY={FILE_KEY}\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    log_file = tmp_path / "qwen-ls.log"
    init = {"qwen": {"openaiApiKey": EDITOR_KEY}} if with_editor_key else None
    async with lsp_session(
        "visual_studio_code",
        folders=[workspace],
        init_options=init,
        env={"HTTPS_PROXY": "http://user:hunter2@127.0.0.1:9"},
        extra_args=("--log-file", str(log_file)),
    ) as client:
        # The editor's key with the project's base URL: the host guard asks first.
        client.answer_message_request = lambda params: "Allow"
        seen = await _exercise(client, fake, workspace)
        seen += [m.message for m in client.messages + client.log_messages]
        seen += [m.message for m in client.message_requests]
        seen += client.statuses
        seen += [client.partials, client.progress_reports]

    assert len(client.message_requests) == (1 if with_editor_key else 0)
    sent_key = FILE_KEY if not with_editor_key else EDITOR_KEY
    assert fake.requests[0].header("authorization") == f"Bearer {sent_key}"
    log = log_file.read_text(encoding="utf-8")
    assert "Sending data" in log, "the log is at its most verbose"
    stderr = capfd.readouterr().err
    everything = json.dumps(seen, default=repr) + log + stderr
    for secret in SECRETS:
        assert secret not in everything, secret
