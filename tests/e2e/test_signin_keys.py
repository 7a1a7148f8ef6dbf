"""qwen.auth with API keys and Coding Plan, and qwen.logout, end to end: where each
scope stores the key, what else in the files survives, git, switching methods and
signing out, all without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError

from qwen_ls.auth import CODING_PLAN_BASE_URL
from tests.auth.conftest import now_ms, write_cli_creds
from tests.e2e.harness import QwenTestClient, lsp_session, write_env
from tests.fakes.oauth_server import FakeOAuth, device_answer
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test-NEW00000000"
PLAN_KEY = "sk-sp-test-PLAN0000"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=False
    )


def shown(client: QwenTestClient) -> str:
    return "\n".join(m.message for m in client.messages)


def no_key_anywhere(client: QwenTestClient, *results: Any) -> None:
    for text in (shown(client), json.dumps(results), json.dumps(client.statuses)):
        assert KEY not in text and PLAN_KEY not in text


async def test_api_key_goes_to_the_workspace_env_keeping_the_rest(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    env_file = write_env(
        workspace,
        "# my project settings\nOTHER=1\n\nOPENAI_API_KEY=sk-test-OLD0  # old key\n",
    )
    env_file.chmod(0o640)
    async with lsp_session(preset, folders=[workspace]) as client:
        result = await client.command(
            "qwen.auth", {"method": "openai", "apiKey": KEY, "baseUrl": fake.base_url}
        )
        chat = await client.command("qwen.chat", {"prompt": "hi"})

    assert result["authType"] == "openai" and result["signedIn"] is True
    assert result["model"] == "qwen3-coder-plus"
    assert env_file.read_text() == (
        "# my project settings\nOTHER=1\n\n"
        f"OPENAI_API_KEY={KEY}  # old key\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    assert mode(env_file) == 0o640, "an existing file keeps its mode"
    assert chat["text"]
    assert fake.requests[-1].header("authorization") == f"Bearer {KEY}"
    assert f"Saved OPENAI_API_KEY, OPENAI_BASE_URL in {env_file}" in shown(client)
    assert client.statuses[-1]["signedIn"] is True
    no_key_anywhere(client, result)


async def test_new_env_file_is_0600_and_ignored_by_git(
    fake: FakeOpenAI, workspace: Path
) -> None:
    assert git(workspace, "init", "-q").returncode == 0
    async with lsp_session("neovim", folders=[workspace]) as client:
        await client.command(
            "qwen.auth", {"method": "openai", "apiKey": KEY, "baseUrl": fake.base_url}
        )
    env_file = workspace / ".qwen" / ".env"
    assert mode(env_file) == 0o600
    assert git(workspace, "check-ignore", "-q", ".qwen/.env").returncode == 0
    assert ".qwen/.env" not in git(workspace, "status", "--porcelain", "-uall").stdout
    assert ".git/info/exclude" in shown(client)
    assert client.messages[-1].type == types.MessageType.Info


async def test_tracked_env_file_gets_a_warning(
    fake: FakeOpenAI, workspace: Path
) -> None:
    git(workspace, "init", "-q")
    write_env(workspace, "OTHER=1\n")
    git(workspace, "add", ".qwen/.env")
    async with lsp_session("neovim", folders=[workspace]) as client:
        result = await client.command(
            "qwen.auth", {"method": "openai", "apiKey": KEY, "baseUrl": fake.base_url}
        )
    assert client.messages[-1].type == types.MessageType.Warning
    assert "tracked by git" in shown(client)
    assert any("tracked by git" in m for m in result["messages"])


async def test_user_scope_serves_every_folder(
    fake: FakeOpenAI, tmp_path: Path, home: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    async with lsp_session("neovim", folders=[a, b]) as client:
        result = await client.command(
            "qwen.auth",
            {
                "method": "openai",
                "apiKey": KEY,
                "baseUrl": fake.base_url,
                "scope": "user",
            },
        )
        await client.command("qwen.chat", {"prompt": "1", "uri": a.as_uri()})
        await client.command("qwen.chat", {"prompt": "2", "uri": b.as_uri()})
    user_env = home / ".qwen" / ".env"
    assert mode(user_env) == 0o600
    assert f"OPENAI_API_KEY={KEY}" in user_env.read_text()
    assert not (a / ".qwen").exists() and not (b / ".qwen").exists()
    assert result["signedIn"] is True
    assert [r.header("authorization") for r in fake.requests] == [f"Bearer {KEY}"] * 2


async def test_user_scope_key_hidden_by_a_project_env_is_explained(
    fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(workspace, "OTHER=1\n")
    async with lsp_session("neovim", folders=[workspace]) as client:
        result = await client.command(
            "qwen.auth",
            {
                "method": "openai",
                "apiKey": KEY,
                "baseUrl": fake.base_url,
                "scope": "user",
            },
        )
    assert result["signedIn"] is False
    assert any("does not read the stored key" in m for m in result["messages"])


async def test_coding_plan_presets_providers_url_and_model(
    fake: FakeOpenAI, workspace: Path
) -> None:
    settings = workspace / ".qwen" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{\n  // mine\n  "ui": {"theme": "dark"}\n}\n')
    async with lsp_session("visual_studio_code", folders=[workspace]) as client:
        preset_url = await client.command(
            "qwen.auth", {"method": "coding-plan", "apiKey": PLAN_KEY}
        )
        status = await client.command("qwen.status", {})
        via_fake = await client.command(
            "qwen.auth",
            {"method": "coding-plan", "apiKey": PLAN_KEY, "baseUrl": fake.base_url},
        )
        await client.command("qwen.chat", {"prompt": "hi"})

    assert preset_url["signedIn"] is True and preset_url["authType"] == "openai"
    assert preset_url["model"] == "qwen3-coder-plus"
    assert status["baseUrl"] == CODING_PLAN_BASE_URL
    assert "modelProviders.openai[0]" in status["sources"]["baseUrl"]
    assert "BAILIAN_CODING_PLAN_API_KEY" in status["sources"]["apiKey"]
    assert via_fake["signedIn"] is True

    env_text = (workspace / ".qwen" / ".env").read_text()
    assert env_text == f"BAILIAN_CODING_PLAN_API_KEY={PLAN_KEY}\n"
    text = settings.read_text()
    assert "// mine" in text and '"theme": "dark"' in text
    assert '"selectedType": "openai"' in text
    assert text.count('"envKey": "BAILIAN_CODING_PLAN_API_KEY"') == 9, "replaced"
    sent = fake.requests[-1]
    assert sent.header("authorization") == f"Bearer {PLAN_KEY}"
    assert sent.json["model"] == "qwen3-coder-plus"
    no_key_anywhere(client, preset_url, status, via_fake)


async def test_switching_methods_takes_effect_without_restart(
    fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    with FakeOpenAI() as other:
        async with lsp_session("neovim", folders=[workspace]) as client:
            await client.command(
                "qwen.auth",
                {"method": "coding-plan", "apiKey": PLAN_KEY, "baseUrl": fake.base_url},
            )
            await client.command("qwen.chat", {"prompt": "plan"})
            switched = await client.command(
                "qwen.auth",
                {
                    "method": "openai",
                    "apiKey": KEY,
                    "baseUrl": other.base_url,
                    "model": "my-model",
                },
            )
            await client.command("qwen.chat", {"prompt": "openai"})
        assert other.requests[-1].header("authorization") == f"Bearer {KEY}"
        assert other.requests[-1].json["model"] == "my-model"
    assert fake.requests[-1].header("authorization") == f"Bearer {PLAN_KEY}"
    assert switched["model"] == "my-model"
    settings = json.loads((workspace / ".qwen" / "settings.json").read_text())
    assert "openai" not in settings.get("modelProviders", {})
    assert settings["model"]["name"] == "my-model"


async def test_untrusted_folder_cannot_store_a_workspace_key(
    workspace: Path, home: Path
) -> None:
    (home / ".qwen").mkdir()
    (home / ".qwen" / "settings.json").write_text(
        '{"security": {"folderTrust": {"enabled": true}}}'
    )
    async with lsp_session("neovim", folders=[workspace]) as client:
        error = await client.command_error(
            "qwen.auth", {"method": "openai", "apiKey": KEY}
        )
    assert error.data["kind"] == "config"
    assert "not a trusted folder" in error.message and '"user"' in error.message
    assert not (workspace / ".qwen").exists()


async def test_key_methods_refuse_a_wrong_key_and_explain_a_missing_one(
    workspace: Path,
) -> None:
    async with lsp_session("neovim", folders=[workspace]) as client:
        wrong = await client.command_error(
            "qwen.auth", {"method": "coding-plan", "apiKey": KEY}
        )
        missing = {
            method: await client.command("qwen.auth", {"method": method})
            for method in ("openai", "coding-plan")
        }
    assert wrong.code == -32602
    assert "apiKey" in wrong.message and "sk-sp-" in wrong.message
    assert KEY not in wrong.message
    for method, variable in (
        ("openai", "OPENAI_API_KEY"),
        ("coding-plan", "BAILIAN_CODING_PLAN_API_KEY"),
    ):
        message = missing[method]["messages"][0]
        assert "nothing was stored" in message
        assert "apiKey" in message and variable in message
        assert str(workspace / ".qwen" / ".env") in message
        assert message in shown(client)
    assert not (workspace / ".qwen").exists()


async def test_without_method_the_server_asks(workspace: Path, home: Path) -> None:
    with FakeOAuth() as oauth:
        oauth.resource_url = "http://127.0.0.1:9"
        oauth.approve_after = 0
        oauth.device(device_answer(interval=0.05))
        async with lsp_session(
            "neovim",
            folders=[workspace],
            env={"QWEN_OAUTH_BASE_URL": oauth.base_url},
        ) as client:
            client.answer_message_request = lambda params: "API key"
            key_asked = await client.command("qwen.auth", {})
            client.answer_message_request = lambda params: None
            dismissed = await client.command("qwen.auth", {})
            client.answer_message_request = lambda params: "Qwen OAuth"
            oauth_chosen = await client.command("qwen.auth", {})
            client.answer_message_request = refuse
            cannot_ask = await client.command_error("qwen.auth", {})

    titles = [a.title for a in client.message_requests[0].actions or []]
    assert titles == ["Qwen OAuth", "API key", "Coding Plan"]
    assert "OPENAI_API_KEY" in key_asked["messages"][0]
    assert dismissed["cancelled"] is True
    assert "No sign-in method chosen" in dismissed["messages"][0]
    assert oauth_chosen["authType"] == "qwen-oauth"
    assert oauth_chosen["signedIn"] is True
    assert cannot_ask.code == -32602
    assert "method" in cannot_ask.message and "coding-plan" in cannot_ask.message


def refuse(params: types.ShowMessageRequestParams) -> str | None:
    """A client without window/showMessageRequest answers with an error."""
    raise JsonRpcInternalError("not supported here")


async def test_logout_forgets_only_the_scope_asked(workspace: Path, home: Path) -> None:
    fake_url = "https://dashscope.aliyuncs.com/compatible-mode/v1"  # never contacted
    project_env = write_env(
        workspace,
        f"# keep me\nOPENAI_API_KEY={KEY}\nOPENAI_BASE_URL={fake_url}\nOTHER=1\n",
    )
    user_env = write_env(home, "OPENAI_API_KEY=sk-test-USER0000\n")
    creds = write_cli_creds(home, expiry_date=now_ms() + 3_600_000)
    async with lsp_session("neovim", folders=[workspace]) as client:
        workspace_out = await client.command("qwen.logout", {"scope": "workspace"})
        after_workspace = await client.command("qwen.status", {})
        user_out = await client.command("qwen.logout", {"scope": "user"})

    assert workspace_out["removed"] == [f"OPENAI_API_KEY in {project_env}"]
    assert project_env.read_text() == (
        f"# keep me\nOPENAI_BASE_URL={fake_url}\nOTHER=1\n"
    )
    assert after_workspace["authType"] == "qwen-oauth", "the user's OAuth remains"
    assert workspace_out["signedIn"] is True
    assert any("per user" in m for m in workspace_out["messages"])

    assert user_out["removed"][0].startswith(f"the Qwen OAuth sign-in in {creds}")
    assert user_out["removed"][1] == f"OPENAI_API_KEY in {user_env}"
    assert not creds.exists()
    assert user_env.read_text() == ""
    assert user_out["signedIn"] is False
    assert client.statuses[-1]["signedIn"] is False


async def test_logout_without_scope_signs_out_of_the_oauth_in_use(
    workspace: Path, home: Path
) -> None:
    creds = write_cli_creds(home, expiry_date=now_ms() + 3_600_000)
    async with lsp_session("neovim", folders=[workspace]) as client:
        out = await client.command("qwen.logout", {})
        await asyncio.sleep(0.1)
    assert not creds.exists()
    assert out["signedIn"] is False and len(out["removed"]) == 1
    assert "Removed the Qwen OAuth sign-in" in shown(client)


async def test_without_folders_the_user_scope_is_used(
    fake: FakeOpenAI, home: Path
) -> None:
    async with lsp_session("neovim", folders=[]) as client:
        result = await client.command(
            "qwen.auth", {"method": "openai", "apiKey": KEY, "baseUrl": fake.base_url}
        )
        error = await client.command_error("qwen.logout", {"scope": "workspace"})
    assert result["signedIn"] is True
    assert KEY in (home / ".qwen" / ".env").read_text()
    assert error.code == -32602 and "scope" in error.message
