"""Configuration files changing while the server runs: watchers registered where the
editor can watch (VS Code), the stat check where it cannot (Neovim); broken settings
shown once and cleared when fixed (B19); folders added and removed (B60)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest_lsp
from lsprotocol import types

from tests.config.helpers import write
from tests.e2e.harness import QwenTestClient, lsp_session, write_env
from tests.e2e.test_models import until
from tests.fakes.openai_server import FakeOpenAI

HOME_FILES = [
    ".qwen/.env",
    ".env",
    ".qwen/settings.json",
    ".qwen/trustedFolders.json",
    ".qwen/oauth_creds.json",
    ".qwen/qwen-ls-allowed-hosts.json",
]


def folder_globs(folder: Path) -> list[str]:
    return [str(folder / n) for n in (".qwen/.env", ".env", ".qwen/settings.json")]


async def changed(
    client: QwenTestClient, watching: bool, path: Path, kind: types.FileChangeType
) -> None:
    """What the editor does after a save: a watcher event where it watches; nothing
    otherwise (the server's stat check sees the change at the next request)."""
    if watching:
        client.files_changed((path, kind))


async def test_settings_edited_created_deleted_while_running(
    preset: str, fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    watching = preset == "visual_studio_code"
    write_env(
        workspace, f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    settings = workspace / ".qwen" / "settings.json"
    models = []

    async with lsp_session(preset, folders=[workspace]) as client:
        if watching:
            await until(lambda: client.registrations)
            assert client.watched_globs() == [
                *folder_globs(workspace),
                *(str(home / n) for n in HOME_FILES),
            ]
        await client.command("qwen.chat", {"prompt": "start"})

        steps = [
            (
                lambda: write(settings, {"model": {"name": "created"}}),
                types.FileChangeType.Created,
                "created",
            ),
            (
                lambda: write(settings, '{"model": {"name": "edited-longer"}}'),
                types.FileChangeType.Changed,
                "edited-longer",
            ),
            (settings.unlink, types.FileChangeType.Deleted, "qwen3-coder-plus"),
        ]
        for act, kind, expected in steps:
            act()
            await changed(client, watching, settings, kind)
            if watching:
                # The notification alone updates the status line: no request needed.
                await until(lambda e=expected: client.statuses[-1]["model"] == e)
            await client.command("qwen.chat", {"prompt": "next"})
            models.append(fake.requests[-1].json["model"])
            assert client.statuses[-1]["model"] == expected

    if not watching:
        assert client.registrations == {}, "Neovim cannot register watchers"
    assert models == ["created", "edited-longer", "qwen3-coder-plus"]
    assert [s["model"] for s in client.statuses] == [
        "qwen3-coder-plus",
        "created",
        "edited-longer",
        "qwen3-coder-plus",
    ]


async def test_home_env_created_while_running(
    preset: str, fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    watching = preset == "visual_studio_code"
    async with lsp_session(preset, folders=[workspace]) as client:
        status = await client.command("qwen.status")
        assert status["signedIn"] is False
        env = write(
            home / ".qwen" / ".env",
            f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={fake.base_url}\n",
        )
        await changed(client, watching, env, types.FileChangeType.Created)
        if watching:
            await until(lambda: client.statuses[-1]["signedIn"] is True)
        result = await client.command("qwen.chat", {"prompt": "hi"})
    assert result["text"]
    assert client.statuses[-1]["signedIn"] is True
    assert fake.requests[-1].header("authorization") == "Bearer sk-test-0000"


def errors(client: QwenTestClient) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Error]


async def test_B19_broken_settings_shown_once_and_cleared_when_fixed(
    preset: str, fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    watching = preset == "visual_studio_code"
    broken = b'{ modelProviders: { "openai": [] } }'
    settings = write(home / ".qwen" / "settings.json", broken)
    env = {"OPENAI_API_KEY": "sk-test-0000", "OPENAI_BASE_URL": fake.base_url}
    problem = (
        f"{settings}: invalid JSON at line 1 column 3 — settings ignored (Expecting "
        "property name enclosed in double quotes); the file is left unchanged, fix "
        "it and save"
    )

    async with lsp_session(preset, folders=[workspace], env=env) as client:
        await until(lambda: errors(client))
        await client.command("qwen.chat", {"prompt": "works anyway"})
        status = await client.command("qwen.status")
        await client.command("qwen.chat", {"prompt": "again"})
        assert errors(client) == [problem], "once, however often it is read"
        assert problem in status["problems"]
        assert settings.read_bytes() == broken, "never rewritten or renamed"

        write(settings, json.dumps({"model": {"name": "fixed"}}))
        await changed(client, watching, settings, types.FileChangeType.Changed)
        if watching:
            await until(lambda: client.statuses[-1]["model"] == "fixed")
        status = await client.command("qwen.status")
        assert problem not in status["problems"]
        assert status["model"] == "fixed"
        await until(
            lambda: any("fixed, read again" in m.message for m in client.log_messages)
        )

        write(settings, b"{ oops")
        await changed(client, watching, settings, types.FileChangeType.Changed)
        await client.command("qwen.status")
        await until(lambda: len(errors(client)) == 2)

    assert errors(client)[1].startswith(f"{settings}: invalid JSON at line 1 column 3")
    assert fake.requests[0].header("authorization") == "Bearer sk-test-0000"


async def test_B60_watchers_follow_workspace_folders(
    fake: FakeOpenAI, tmp_path: Path, home: Path
) -> None:
    helper, a, b = (tmp_path / n for n in ("helper", "a", "b"))
    for folder in (helper, a, b):
        folder.mkdir()
    write_env(b, f"OPENAI_API_KEY=sk-test-000B\nOPENAI_BASE_URL={fake.base_url}\n")

    async with lsp_session("visual_studio_code", folders=[helper, a]) as client:
        await until(lambda: client.registrations)
        first = set(client.registrations)
        assert client.watched_globs()[:6] == [*folder_globs(helper), *folder_globs(a)]

        client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=[types.WorkspaceFolder(uri=b.as_uri(), name="b")],
                    removed=[types.WorkspaceFolder(uri=a.as_uri(), name="a")],
                )
            )
        )
        await until(lambda: client.unregistered)
        assert client.unregistered == list(first), "the old registration is dropped"
        assert client.watched_globs()[:6] == [*folder_globs(helper), *folder_globs(b)]

        env = b / ".qwen" / ".env"
        write(env, f"OPENAI_API_KEY=sk-test-000C\nOPENAI_BASE_URL={fake.base_url}\n")
        client.files_changed((env, types.FileChangeType.Changed))
        await client.command("qwen.chat", {"prompt": "hi", "uri": b.as_uri()})
    assert fake.requests[-1].header("authorization") == "Bearer sk-test-000C"


async def test_relative_patterns_where_supported(
    fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    capabilities = pytest_lsp.client_capabilities("visual_studio_code")
    assert capabilities.workspace is not None
    capabilities.workspace.did_change_watched_files = (
        types.DidChangeWatchedFilesClientCapabilities(
            dynamic_registration=True, relative_pattern_support=True
        )
    )
    async with lsp_session(capabilities, folders=[workspace]) as client:
        await until(lambda: client.registrations)
    globs = client.watched_globs()
    as_plain = [
        (g["baseUri"], g["pattern"]) if isinstance(g, dict) else (g.base_uri, g.pattern)
        for g in globs
    ]
    assert as_plain == [
        (workspace.as_uri(), ".qwen/.env"),
        (workspace.as_uri(), ".env"),
        (workspace.as_uri(), ".qwen/settings.json"),
        *((home.as_uri(), n) for n in HOME_FILES),
    ]


async def test_watcher_event_rereads_a_file_the_stat_check_cannot_tell_apart(
    fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(
        workspace, f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    settings = write(workspace / ".qwen" / "settings.json", {"model": {"name": "aaaa"}})
    async with lsp_session("visual_studio_code", folders=[workspace]) as client:
        await until(lambda: client.statuses and client.statuses[-1]["model"] == "aaaa")
        stamp = settings.stat()
        settings.write_text(json.dumps({"model": {"name": "bbbb"}}))
        os.utime(settings, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        client.files_changed((settings, types.FileChangeType.Changed))
        await until(lambda: client.statuses[-1]["model"] == "bbbb")
        await client.command("qwen.chat", {"prompt": "hi"})
    assert fake.requests[-1].json["model"] == "bbbb"


async def test_B23_env_path_that_is_a_directory(
    preset: str, fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    (workspace / ".qwen" / ".env").mkdir(parents=True)
    home_env = write(
        home / ".qwen" / ".env",
        f"OPENAI_API_KEY=sk-test-home\nOPENAI_BASE_URL={fake.base_url}\n",
    )
    async with lsp_session(preset, folders=[workspace]) as client:
        await client.command("qwen.chat", {"prompt": "hi"})
        status = await client.command("qwen.status")
    problem = f"{workspace / '.qwen' / '.env'} is a directory, not a file; ignored"
    warnings = [
        m.message for m in client.messages if m.type == types.MessageType.Warning
    ]
    assert warnings == [problem]
    assert problem in status["problems"]
    assert status["envFile"] == str(home_env)
    assert fake.requests[0].header("authorization") == "Bearer sk-test-home"
