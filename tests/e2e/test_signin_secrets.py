"""B63 for signing in: no API key, access or refresh token or device code reaches the
server's -vv log, a message, a status or any answer, through a whole session of
OAuth sign-in, refresh after a 401, API keys, bad arguments and sign-out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lsprotocol import types

from tests.e2e.harness import lsp_session
from tests.fakes.oauth_server import FakeOAuth, device_answer, tokens
from tests.fakes.openai_server import FakeOpenAI, status, text_stream

SECRETS = [
    "sk-test-SECRET0000",
    "SECRET1",  # access token
    "SECRET2",  # refresh token
    "SECRET3",  # device code
    "SECRET4",  # refreshed access token
    "SECRET5",  # refreshed refresh token
    "SECRET6",  # a key in no known shape
]


async def test_B63_no_secret_in_log_messages_or_answers(
    fake: FakeOpenAI, workspace: Path, tmp_path: Path
) -> None:
    log_file = tmp_path / "server.log"
    answers: list[Any] = []
    resource = fake.base_url.removesuffix("/v1")
    fake.script(
        status(401, {"error": {"message": "invalid access token or token expired"}}),
        text_stream("oauth answer"),
        text_stream("key answer"),
    )
    with FakeOAuth() as oauth:
        oauth.device(device_answer(device_code="dc-test-SECRET3", interval=0.05))
        oauth.token(
            tokens(
                access="at-test-SECRET1",
                refresh="rt-test-SECRET2",
                resource_url=resource,
            )
        )
        oauth.refresh(
            tokens(
                access="at-test-SECRET4",
                refresh="rt-test-SECRET5",
                resource_url=resource,
            )
        )
        async with lsp_session(
            "visual_studio_code",
            folders=[workspace],
            env={"QWEN_OAUTH_BASE_URL": oauth.base_url},
            extra_args=("--log-file", str(log_file)),
        ) as client:
            client.log_messages.clear()
            answers.append(await client.command("qwen.auth", {"method": "qwen-oauth"}))
            answers.append(await client.command("qwen.chat", {"prompt": "hi"}))
            answers.append(await client.command("qwen.status", {}))
            for bad in (
                {"method": "coding-plan", "apiKey": "sk-test-SECRET0000"},
                {"method": "openai", "apiKey": " sk-test-SECRET0000\n", "x": 1},
                {"method": "qwen-oauth", "apiKey": "my-key-SECRET6666zz"},
            ):
                error = await client.command_error("qwen.auth", bad)
                answers.append([error.code, error.message, error.data])
            answers.append(
                await client.command(
                    "qwen.auth",
                    {
                        "method": "openai",
                        "apiKey": "sk-test-SECRET0000",
                        "baseUrl": fake.base_url,
                    },
                )
            )
            answers.append(await client.command("qwen.chat", {"prompt": "again"}))
            answers.append(await client.command("qwen.status", {}))
            answers.append(await client.command("qwen.logout", {"scope": "user"}))
            answers.append(await client.command("qwen.logout", {}))
            seen = [
                json.dumps(answers),
                json.dumps(client.statuses),
                "\n".join(m.message for m in client.messages),
                "\n".join(m.message for m in client.log_messages),
                repr(client.progress_reports),
            ]

    assert [r.header("authorization") for r in fake.requests] == [
        "Bearer at-test-SECRET1",
        "Bearer at-test-SECRET4",
        "Bearer sk-test-SECRET0000",
    ], "the secrets were really in use"
    assert answers[0]["signedIn"] is True
    log = log_file.read_text()
    assert "Sending data" in log, "the log is at -vv"
    for text in [log, *seen]:
        for secret in SECRETS:
            assert secret not in text, secret
    assert isinstance(client.messages[0], types.ShowMessageParams)
