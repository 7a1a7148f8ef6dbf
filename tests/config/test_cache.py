"""ConfigCache: re-resolve only after a change, and read only what changed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from qwen_ls.config import ConfigCache, EditorSettings, ResolvedConfig
from tests.config.helpers import write

EDITOR = EditorSettings()


Get = Callable[..., ResolvedConfig]


@pytest.fixture
def get(home: Path) -> tuple[ConfigCache, Get]:
    cache = ConfigCache()

    def _get(
        folder: Path | None,
        environ: dict[str, str] | None = None,
        editor: EditorSettings = EDITOR,
    ) -> ResolvedConfig:
        return cache.get(folder, editor=editor, environ=environ or {}, home=home)

    return cache, _get


def touch_later(path: Path) -> None:
    """Move the mtime on, as an editor saving a same-sized file would."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def key_of(config: ResolvedConfig) -> str | None:
    return config.api_key.value.get_secret_value() if config.api_key else None


def test_unchanged_returns_cached_object_and_reads_nothing(
    ws: Path, home: Path, get: tuple[ConfigCache, Get], reads: list[Path]
) -> None:
    _, resolve = get
    write(ws / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-0000\n")
    write(home / ".qwen" / "settings.json", {"model": {"name": "m"}})
    first = resolve(ws)
    assert sorted(reads) == sorted(
        [ws / ".qwen" / ".env", home / ".qwen" / "settings.json"]
    )
    reads.clear()

    assert resolve(ws) is first
    assert resolve(ws) is first
    assert reads == []


@pytest.mark.parametrize(
    ("change", "expected_key"),
    [
        pytest.param(
            lambda ws, home: write(
                ws / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-2222-longer\n"
            ),
            "sk-test-2222-longer",
            id="edit-size-changes",
        ),
        pytest.param(
            lambda ws, home: (
                write(ws / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-1111\n"),
                touch_later(ws / ".qwen" / ".env"),
            ),
            "sk-test-1111",
            id="edit-same-size",
        ),
        pytest.param(
            lambda ws, home: (
                write(ws / ".qwen" / ".env.tmp", "OPENAI_API_KEY=sk-test-3333\n"),
                (ws / ".qwen" / ".env.tmp").replace(ws / ".qwen" / ".env"),
            ),
            "sk-test-3333",
            id="atomic-replace",
        ),
        pytest.param(
            lambda ws, home: (ws / ".qwen" / ".env").unlink(),
            "sk-test-home",
            id="deletion-falls-back-to-home",
        ),
        pytest.param(
            lambda ws, home: (
                write(ws / ".qwen" / ".env", "X=1\n")
                and write(ws / "sub" / ".qwen" / ".env", "OPENAI_API_KEY=sk-never\n")
            ),
            None,
            id="unrelated-lower-dir-ignored",
        ),
    ],
)
def test_edit_creation_deletion_take_effect(
    ws: Path,
    home: Path,
    get: tuple[ConfigCache, Get],
    reads: list[Path],
    change: Callable[[Path, Path], object],
    expected_key: str | None,
) -> None:
    _, resolve = get
    write(ws / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-0000\n")
    write(home / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-home\n")
    first = resolve(ws, editor=EditorSettings(auth_type="openai"))
    assert key_of(first) == "sk-test-0000"
    reads.clear()

    change(ws, home)
    second = resolve(ws, editor=EditorSettings(auth_type="openai"))
    assert second is not first
    assert key_of(second) == expected_key


def test_only_the_changed_file_is_read_again(
    ws: Path, home: Path, get: tuple[ConfigCache, Get], reads: list[Path]
) -> None:
    _, resolve = get
    env = write(ws / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-0000\n")
    write(home / ".qwen" / "settings.json", {"model": {"name": "m"}})
    resolve(ws)
    reads.clear()

    write(env, "OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL=http://127.0.0.1:1/v1\n")
    config = resolve(ws)
    assert reads == [env]
    assert config.base_url is not None
    assert config.base_url.value == "http://127.0.0.1:1/v1"


def test_creating_a_nearer_file_switches(
    ws: Path, home: Path, get: tuple[ConfigCache, Get]
) -> None:
    _, resolve = get
    write(home / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-home\n")
    assert resolve(ws).env_file == home / ".qwen" / ".env"
    write(ws / ".env", "OPENAI_API_KEY=sk-test-proj\n")
    config = resolve(ws)
    assert config.env_file == ws / ".env"
    assert key_of(config) == "sk-test-proj"


@pytest.mark.parametrize(
    ("name", "content", "check"),
    [
        pytest.param(
            ".qwen/settings.json",
            {"model": {"name": "changed"}},
            lambda c: c.model.value == "changed",
            id="user-settings",
        ),
        pytest.param(
            ".qwen/oauth_creds.json",
            {"access_token": "x"},
            lambda c: c.auth_type is not None and c.auth_type.value == "qwen-oauth",
            id="oauth-creds",
        ),
    ],
)
def test_home_file_changes_take_effect(
    ws: Path,
    home: Path,
    get: tuple[ConfigCache, Get],
    name: str,
    content: dict[str, str],
    check: Callable[[ResolvedConfig], bool],
) -> None:
    _, resolve = get
    first = resolve(ws)
    assert not check(first)
    write(home / name, content)
    assert check(resolve(ws))


def test_trusted_folders_change_takes_effect(
    ws: Path, home: Path, get: tuple[ConfigCache, Get]
) -> None:
    _, resolve = get
    write(
        home / ".qwen" / "settings.json",
        {"security": {"folderTrust": {"enabled": True}}},
    )
    assert resolve(ws).trusted is False
    write(home / ".qwen" / "trustedFolders.json", {str(ws): "TRUST_FOLDER"})
    assert resolve(ws).trusted is True


def test_workspace_settings_creation_takes_effect(
    ws: Path, get: tuple[ConfigCache, Get]
) -> None:
    _, resolve = get
    assert resolve(ws).model.value == "qwen3-coder-plus"
    write(ws / ".qwen" / "settings.json", {"model": {"name": "ws-model"}})
    assert resolve(ws).model.value == "ws-model"


def test_B19_fixing_settings_clears_the_error(
    home: Path, get: tuple[ConfigCache, Get]
) -> None:
    _, resolve = get
    path = write(
        home / ".qwen" / "settings.json", '{ modelProviders: { "openai": [] } }'
    )
    environ = {"OPENAI_API_KEY": "sk-test-0000"}
    assert "invalid JSON at line 1 column 3" in resolve(None, environ).problems[0]
    write(path, '{ "modelProviders": { "openai": [] } }')
    assert resolve(None, environ).problems == []


def test_input_changes_re_resolve_without_reading(
    ws: Path, get: tuple[ConfigCache, Get], reads: list[Path]
) -> None:
    _, resolve = get
    write(ws / ".qwen" / ".env", "OPENAI_MODEL=file\n")
    first = resolve(ws)
    reads.clear()

    by_env = resolve(ws, {"OPENAI_MODEL": "process"})
    assert by_env is not first and by_env.model.value == "process"
    by_editor = resolve(ws, {"OPENAI_MODEL": "process"}, EditorSettings(model="ed"))
    assert by_editor.model.value == "ed"
    assert reads == []


def test_invalidate_and_drop(
    ws: Path, tmp_path: Path, get: tuple[ConfigCache, Get], reads: list[Path]
) -> None:
    cache, resolve = get
    other = tmp_path / "other"
    env = write(ws / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-000A\n")
    write(other / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-000B\n")
    a, b = resolve(ws), resolve(other)
    assert (key_of(a), key_of(b)) == ("sk-test-000A", "sk-test-000B")
    reads.clear()

    cache.invalidate(ws)
    assert resolve(ws) is not a
    assert resolve(other) is b
    assert reads == [env]

    cache.invalidate()
    assert resolve(other) is not b

    cache.drop(ws)
    reads.clear()
    fresh = resolve(ws)
    assert key_of(fresh) == "sk-test-000A"
    assert reads == [env]


def test_no_folder_is_cached_too(home: Path, get: tuple[ConfigCache, Get]) -> None:
    _, resolve = get
    write(home / ".env", "OPENAI_API_KEY=sk-test-0000\n")
    first = resolve(None)
    assert resolve(None) is first
    assert first.watched_files[:2] == [home / ".qwen" / ".env", home / ".env"]


def test_reported_change_rereads_only_that_file(
    ws: Path, home: Path, get: tuple[ConfigCache, Get], reads: list[Path]
) -> None:
    cache, resolve = get
    env = write(ws / ".qwen" / ".env", "OPENAI_API_KEY=sk-test-0000\n")
    settings = write(home / ".qwen" / "settings.json", {"model": {"name": "m"}})
    other = ws.parent / "other"
    other.mkdir()
    first = resolve(ws)
    second = resolve(other)
    reads.clear()

    # A watcher event for a file whose stamp did not change (an editor that keeps
    # mtime and size) still makes the folders watching it read it again.
    stat = env.stat()
    env.write_text("OPENAI_API_KEY=sk-test-1111\n")
    os.utime(env, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    cache.changed([env])
    again = resolve(ws)
    assert again is not first
    assert key_of(again) == "sk-test-1111"
    assert reads == [env], "the unchanged settings file is not read again"
    reads.clear()

    assert resolve(other) is second, "a folder not watching the file keeps its result"
    cache.changed([settings])
    resolve(other)
    assert reads == [settings]
