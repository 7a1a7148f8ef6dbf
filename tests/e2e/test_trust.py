"""Folder trust end to end: an untrusted folder's own files are ignored and qwen.status
says so; home files still count; trusting the folder takes effect without a restart."""

from __future__ import annotations

import json
from pathlib import Path

from lsprotocol import types

from tests.config.helpers import write
from tests.e2e.harness import lsp_session, write_env
from tests.e2e.test_models import until
from tests.fakes.openai_server import FakeOpenAI


async def test_untrusted_folder_files_ignored_until_trusted(
    preset: str, fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    watching = preset == "visual_studio_code"
    write(
        home / ".qwen" / "settings.json",
        {"security": {"folderTrust": {"enabled": True}}},
    )
    home_env = write(
        home / ".qwen" / ".env",
        f"OPENAI_API_KEY=sk-test-home\nOPENAI_BASE_URL={fake.base_url}\n",
    )
    project_env = write_env(
        workspace, f"OPENAI_API_KEY=sk-test-proj\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    write(workspace / ".qwen" / "settings.json", {"model": {"name": "project-model"}})
    rules = home / ".qwen" / "trustedFolders.json"

    async with lsp_session(preset, folders=[workspace]) as client:
        untrusted = await client.command("qwen.status")
        await client.command("qwen.chat", {"prompt": "hi"})

        # Trusted from now on, as `qwen` asks when first run in the folder.
        write(rules, json.dumps({str(workspace): "TRUST_FOLDER"}))
        if watching:
            client.files_changed((rules, types.FileChangeType.Created))
            await until(lambda: client.statuses[-1]["model"] == "project-model")
        await client.command("qwen.chat", {"prompt": "hi"})
        trusted = await client.command("qwen.status")

    assert untrusted["trusted"] is False
    assert untrusted["problems"] == [
        f"workspace folder {workspace} is not trusted (folder trust is enabled in the "
        "user settings): its .env files and .qwen/settings.json are ignored; to trust "
        f'it, add "{workspace}": "TRUST_FOLDER" to {rules}'
    ]
    assert untrusted["envFile"] == str(home_env)
    assert untrusted["model"] == "qwen3-coder-plus"
    assert untrusted["sources"]["apiKey"] == f"OPENAI_API_KEY in {home_env}"

    assert trusted["trusted"] is True
    assert trusted["problems"] == []
    assert trusted["envFile"] == str(project_env)
    assert trusted["model"] == "project-model"

    sent = [(r.json["model"], r.header("authorization")) for r in fake.requests]
    assert sent == [
        ("qwen3-coder-plus", "Bearer sk-test-home"),
        ("project-model", "Bearer sk-test-proj"),
    ]
    assert [s["model"] for s in client.statuses] == [
        "qwen3-coder-plus",
        "project-model",
    ]
