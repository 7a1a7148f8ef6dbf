"""qwen.listModels and qwen.selectModel end to end: the choice reaches the next request
with its provider's key and URL, survives a restart, and the list merges settings with
what the endpoint lists."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.config.helpers import write
from tests.e2e.harness import lsp_session, write_env
from tests.fakes.openai_server import FakeOpenAI

REQUEST_FAILED = -32803


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
def other() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


def two_providers(home: Path, fake: FakeOpenAI, other: FakeOpenAI) -> Path:
    write(home / ".qwen" / ".env", "ALPHA_KEY=sk-test-000A\nBETA_KEY=sk-test-000B\n")
    return write(
        home / ".qwen" / "settings.json",
        {
            "model": {"name": "alpha"},
            "modelProviders": {
                "openai": [
                    {
                        "id": "alpha",
                        "name": "Alpha",
                        "envKey": "ALPHA_KEY",
                        "baseUrl": fake.base_url,
                    },
                    {
                        "id": "beta",
                        "name": "Beta",
                        "envKey": "BETA_KEY",
                        "baseUrl": other.base_url,
                    },
                ]
            },
        },
    )


def sent(fake: FakeOpenAI) -> list[tuple[str, str | None]]:
    return [
        (r.json["model"], r.header("authorization"))
        for r in fake.requests
        if r.method == "POST"
    ]


async def test_selected_model_goes_to_its_provider_and_survives_restart(
    preset: str, fake: FakeOpenAI, other: FakeOpenAI, workspace: Path, home: Path
) -> None:
    two_providers(home, fake, other)
    settings = workspace / ".qwen" / "settings.json"

    async with lsp_session(preset, folders=[workspace]) as client:
        await client.command("qwen.chat", {"prompt": "one"})
        result = await client.command("qwen.selectModel", {"model": "beta"})
        await client.command("qwen.chat", {"prompt": "two"})
        await until(lambda: client.statuses[-1]["model"] == "beta")

    assert result == {
        "model": "beta",
        "changed": True,
        "scope": "workspace",
        "settingsFile": str(settings),
        "problems": [],
    }
    assert sent(fake) == [("alpha", "Bearer sk-test-000A")]
    assert sent(other) == [("beta", "Bearer sk-test-000B")]
    assert settings.read_text() == '{\n  "model": {\n    "name": "beta"\n  }\n}\n'
    assert [s["model"] for s in client.statuses] == ["alpha", "beta"]

    async with lsp_session(preset, folders=[workspace]) as client:
        await client.command("qwen.chat", {"prompt": "three"})
        status = await client.command("qwen.status")
    assert sent(other)[-1] == ("beta", "Bearer sk-test-000B")
    assert len(sent(fake)) == 1
    assert status["model"] == "beta"
    assert status["sources"]["model"] == f"model.name in {settings}"


async def test_choice_asked_with_a_message_request(
    preset: str, fake: FakeOpenAI, other: FakeOpenAI, workspace: Path, home: Path
) -> None:
    two_providers(home, fake, other)
    settings = workspace / ".qwen" / "settings.json"

    async with lsp_session(preset, folders=[workspace]) as client:
        client.answer_message_request = lambda params: None
        dismissed = await client.command("qwen.selectModel", {})
        assert not settings.exists(), "a dismissed question changes nothing"

        client.answer_message_request = lambda params: "Beta (beta)"
        chosen = await client.command("qwen.selectModel", {"scope": "user"})
        await client.command("qwen.chat", {"prompt": "hi"})

    assert dismissed == {"model": "alpha", "changed": False}
    assert chosen["model"] == "beta" and chosen["scope"] == "user"
    question = client.message_requests[-1]
    assert [a.title for a in question.actions or []] == [
        "● Alpha (alpha)",
        "Beta (beta)",
    ]
    assert question.message == (
        f"Choose the model for workspace {workspace} (now: alpha)."
    )
    assert sent(other) == [("beta", "Bearer sk-test-000B")]
    user = (home / ".qwen" / "settings.json").read_text()
    assert '"name": "beta"' in user and '"baseUrl"' in user


async def test_selection_beats_editor_model_for_the_session(
    fake: FakeOpenAI, other: FakeOpenAI, workspace: Path, home: Path
) -> None:
    # configuration.md section 5: the editor's qwen.model outranks settings files. A
    # choice made in the editor must still work, so it overrides the editor's model
    # for this folder until the server restarts (or the editor sends a new model).
    two_providers(home, fake, other)
    init = {"model": "alpha"}

    async with lsp_session(
        "visual_studio_code", folders=[workspace], init_options=init
    ) as client:
        result = await client.command("qwen.selectModel", {"model": "beta"})
        await client.command("qwen.chat", {"prompt": "hi"})
        status = await client.command("qwen.status")

    assert sent(other) == [("beta", "Bearer sk-test-000B")]
    assert result["problems"] == [
        "the editor setting qwen.model (alpha) outranks settings files: beta is used "
        "until the server restarts, then the editor's model applies again; clear "
        "qwen.model in the editor's settings to keep beta"
    ]
    assert status["sources"]["model"] == (
        "qwen.selectModel in this session (outranks the editor's qwen.model alpha "
        "until a restart)"
    )

    async with lsp_session(
        "visual_studio_code", folders=[workspace], init_options=init
    ) as client:
        await client.command("qwen.chat", {"prompt": "again"})
    assert sent(fake) == [("alpha", "Bearer sk-test-000A")], "after a restart"


async def test_selection_in_an_untrusted_folder(
    fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    write(
        home / ".qwen" / "settings.json",
        {"security": {"folderTrust": {"enabled": True}}},
    )
    env = {"OPENAI_API_KEY": "sk-test-0000", "OPENAI_BASE_URL": fake.base_url}
    async with lsp_session("neovim", folders=[workspace], env=env) as client:
        refused = await client.command_error(
            "qwen.selectModel", {"model": "m2", "scope": "workspace"}
        )
        result = await client.command("qwen.selectModel", {"model": "m2"})
        await client.command("qwen.chat", {"prompt": "hi"})
    assert refused.code == -32602 and "is not trusted" in refused.message
    assert result["scope"] == "user"
    assert result["problems"] == [
        f"saved in the user settings: workspace {workspace} is not trusted, so its "
        "own settings are not read"
    ]
    assert not (workspace / ".qwen").exists()
    assert sent(fake) == [("m2", "Bearer sk-test-0000")]


async def test_broken_settings_file_is_not_overwritten(
    fake: FakeOpenAI, workspace: Path
) -> None:
    settings = write(workspace / ".qwen" / "settings.json", "{ model: 1 }")
    write_env(
        workspace, f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    async with lsp_session("neovim", folders=[workspace]) as client:
        error = await client.command_error("qwen.selectModel", {"model": "m2"})
    assert error.code == REQUEST_FAILED and error.data["kind"] == "config"
    assert str(settings) in error.message and "line 1" in error.message
    assert settings.read_text() == "{ model: 1 }"


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def test_list_merges_settings_and_endpoint(
    preset: str, fake: FakeOpenAI, tmp_path: Path, home: Path
) -> None:
    listed, bare, down = (tmp_path / n for n in ("listed", "bare", "down"))
    quiet = FakeOpenAI().start()
    quiet_url = quiet.base_url
    try:
        fake.models = ["qwen3-coder-plus", "gpt-x", "alpha"]
        write_env(
            listed, f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={fake.base_url}\n"
        )
        write_env(
            bare, f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={quiet.base_url}\n"
        )
        write_env(down, f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={dead_url()}\n")
        user = write(
            home / ".qwen" / "settings.json",
            {"modelProviders": {"openai": [{"id": "alpha", "name": "Alpha"}]}},
        )
        async with lsp_session(preset, folders=[listed, bare, down]) as client:
            first = await client.command("qwen.listModels", {"uri": listed.as_uri()})
            again = await client.command("qwen.listModels", {"uri": listed.as_uri()})
            no_route = await client.command("qwen.listModels", {"uri": bare.as_uri()})
            dead = await client.command("qwen.listModels", {"uri": down.as_uri()})
    finally:
        quiet.stop()

    alpha = {
        "id": "alpha",
        "name": "Alpha",
        "authType": "openai",
        "source": f"modelProviders in {user}",
        "current": False,
    }
    endpoint = f"endpoint 127.0.0.1:{fake.port}/models"
    assert first == [
        alpha,
        {
            "id": "qwen3-coder-plus",
            "name": "qwen3-coder-plus",
            "authType": "openai",
            "source": endpoint,
            "baseUrl": fake.base_url,
            "current": True,
        },
        {
            "id": "gpt-x",
            "name": "gpt-x",
            "authType": "openai",
            "source": endpoint,
            "baseUrl": fake.base_url,
            "current": False,
        },
    ]
    assert again == first
    gets = [r for r in fake.requests if r.method == "GET"]
    assert [r.path for r in gets] == ["/v1/models"], "asked once, then cached"
    assert gets[0].header("authorization") == "Bearer sk-test-0000"
    assert no_route == [
        alpha,
        {
            "id": "qwen3-coder-plus",
            "name": "qwen3-coder-plus",
            "authType": "openai",
            "source": "current",
            "baseUrl": quiet_url,
            "current": True,
        },
    ]
    assert [m["id"] for m in dead] == ["alpha", "qwen3-coder-plus"]


async def test_list_does_not_send_the_key_to_a_host_not_yet_allowed(
    fake: FakeOpenAI, workspace: Path
) -> None:
    fake.models = ["m"]
    write_env(workspace, f"OPENAI_BASE_URL={fake.base_url}\n")
    env = {"OPENAI_API_KEY": "sk-test-0000"}
    async with lsp_session(
        "visual_studio_code", folders=[workspace], env=env
    ) as client:
        listed = await client.command("qwen.listModels")
    assert [m["source"] for m in listed] == ["current"]
    assert fake.requests == []
    assert client.message_requests == [], "listing never asks"
