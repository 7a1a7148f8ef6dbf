"""The credential/host guard end to end: a key from the editor's environment is sent to
a host that a project file chose only after the user allowed it, once per folder."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest_lsp
from lsprotocol import types

from tests.config.helpers import write
from tests.e2e.harness import lsp_session, write_env
from tests.fakes.openai_server import FakeOpenAI

REQUEST_FAILED = -32803
KEY = {"OPENAI_API_KEY": "sk-test-0000"}


def project_url(workspace: Path, fake: FakeOpenAI) -> Path:
    return write_env(workspace, f"OPENAI_BASE_URL={fake.base_url}\n")


async def test_asks_once_and_remembers_across_restart(
    preset: str, fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    env_file = project_url(workspace, fake)
    host = f"127.0.0.1:{fake.port}"

    async with lsp_session(preset, folders=[workspace], env=KEY) as client:
        client.answer_message_request = lambda params: "Allow"
        before = await client.command("qwen.status")
        await client.command("qwen.chat", {"prompt": "one"})
        await client.command("qwen.chat", {"prompt": "two"})
        after = await client.command("qwen.status")

    pending = (
        "the first chat will ask before sending your API key (the editor's "
        f"environment) to {host}, which OPENAI_BASE_URL in {env_file} chose"
    )
    assert pending in before["problems"]
    assert pending not in after["problems"]
    assert len(client.message_requests) == 1, "asked once"
    question = client.message_requests[0]
    assert [a.title for a in question.actions or []] == ["Allow", "Don't allow"]
    assert question.message == (
        f"Workspace {workspace} sends chats to {host} (set by OPENAI_BASE_URL in "
        f"{env_file}), and the API key for it is your own (the editor's "
        f"environment). Send your key to {host}? Allow only if you trust this "
        "project; the answer is remembered for this folder."
    )
    assert [r.header("authorization") for r in fake.requests] == [
        "Bearer sk-test-0000"
    ] * 2

    stored = home / ".qwen" / "qwen-ls-allowed-hosts.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text()) == {
        "version": 1,
        "folders": {str(workspace): [host]},
    }

    async with lsp_session(preset, folders=[workspace], env=KEY) as client:
        client.answer_message_request = lambda params: "Don't allow"
        await client.command("qwen.chat", {"prompt": "after restart"})
    assert client.message_requests == [], "remembered"
    assert len(fake.requests) == 3


async def test_refused_blocks_chat_and_edit(
    preset: str, fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    env_file = project_url(workspace, fake)
    source = write(workspace / "app.py", "x = 1\n")
    host = f"127.0.0.1:{fake.port}"

    async with lsp_session(preset, folders=[workspace], env=KEY) as client:
        client.answer_message_request = lambda params: "Don't allow"
        chat = await client.command_error("qwen.chat", {"prompt": "hi"})
        edit = await client.command_error(
            "qwen.edit",
            {
                "uri": source.as_uri(),
                "range": {
                    "start": {"line": 0, "character": 0},
                    "end": {"line": 1, "character": 0},
                },
                "instruction": "rename x",
            },
        )
        client.answer_message_request = lambda params: None
        dismissed = await client.command_error("qwen.chat", {"prompt": "hi"})

    for error in (chat, edit, dismissed):
        assert error.code == REQUEST_FAILED
        assert error.data == {"kind": "config"}
        assert error.message.startswith(
            f"workspace {workspace}: not sending your API key (the editor's "
            f"environment) to {host}, which OPENAI_BASE_URL in {env_file} chose: "
            "you answered Don't allow, or closed the question. To allow it, run the chat again and answer "
            "Allow, or add"
        )
        assert "qwen-ls-allowed-hosts.json" in error.message
        assert "sk-test-0000" not in error.message
    assert len(client.message_requests) == 3, "asked again each time"
    assert fake.requests == [], "nothing was sent"
    assert not (home / ".qwen" / "qwen-ls-allowed-hosts.json").exists()


async def test_client_that_cannot_ask_is_refused(
    fake: FakeOpenAI, workspace: Path
) -> None:
    project_url(workspace, fake)
    capabilities = pytest_lsp.client_capabilities("neovim")
    assert capabilities.window is not None
    capabilities.window.show_message = None
    async with lsp_session(capabilities, folders=[workspace], env=KEY) as client:
        error = await client.command_error("qwen.chat", {"prompt": "hi"})
    assert error.data == {"kind": "config"}
    assert "this editor cannot ask (no window/showMessageRequest)" in error.message
    assert client.message_requests == []
    assert fake.requests == []


async def test_project_key_and_project_url_need_no_consent(
    fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(
        workspace, f"OPENAI_API_KEY=sk-test-proj\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    async with lsp_session("visual_studio_code", folders=[workspace]) as client:
        await client.command("qwen.chat", {"prompt": "hi"})
    assert client.message_requests == []
    assert fake.requests[0].header("authorization") == "Bearer sk-test-proj"


async def test_B23_allowed_for_the_session_when_it_cannot_be_saved(
    fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    project_url(workspace, fake)
    blocked = home / ".qwen" / "qwen-ls-allowed-hosts.json"
    blocked.mkdir(parents=True)
    async with lsp_session("neovim", folders=[workspace], env=KEY) as client:
        client.answer_message_request = lambda params: "Allow"
        await client.command("qwen.chat", {"prompt": "one"})
        await client.command("qwen.chat", {"prompt": "two"})
    assert len(client.message_requests) == 1
    assert len(fake.requests) == 2
    warnings = [
        m.message for m in client.messages if m.type == types.MessageType.Warning
    ]
    assert warnings == [
        f"cannot save {blocked}: Is a directory; 127.0.0.1:{fake.port} is allowed "
        f"for {workspace} in this session only"
    ]
    assert blocked.is_dir() and not any(blocked.iterdir()), "nothing else touched"
