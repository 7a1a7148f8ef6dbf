"""The file watchers registered with the editor."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from qwen_ls.features.watchers import file_watchers, glob_literal, watched_files

HOME = Path("/home/u")
HOME_FILES = [
    ".qwen/.env",
    ".env",
    ".qwen/settings.json",
    ".qwen/trustedFolders.json",
    ".qwen/oauth_creds.json",
    ".qwen/qwen-ls-allowed-hosts.json",
]


def test_every_configuration_file_once() -> None:
    folders = [Path("/w/a"), Path("/w/b"), HOME]
    found = watched_files(folders, HOME)
    assert found == [
        (Path("/w/a"), ".qwen/.env"),
        (Path("/w/a"), ".env"),
        (Path("/w/a"), ".qwen/settings.json"),
        (Path("/w/b"), ".qwen/.env"),
        (Path("/w/b"), ".env"),
        (Path("/w/b"), ".qwen/settings.json"),
        (HOME, ".qwen/.env"),
        (HOME, ".env"),
        (HOME, ".qwen/settings.json"),
        *[(HOME, name) for name in HOME_FILES[3:]],
    ], "a folder that is the home directory adds nothing twice"


def test_relative_patterns() -> None:
    watchers = file_watchers([Path("/w/a")], HOME, relative_patterns=True)
    assert watchers[0] == types.FileSystemWatcher(
        glob_pattern=types.RelativePattern(base_uri="file:///w/a", pattern=".qwen/.env")
    )
    assert watchers[-1].glob_pattern == types.RelativePattern(
        base_uri="file:///home/u", pattern=".qwen/qwen-ls-allowed-hosts.json"
    )
    assert all(w.kind is None for w in watchers), "create, change and delete"


def test_absolute_globs() -> None:
    watchers = file_watchers([Path("/w/a [1]")], HOME, relative_patterns=False)
    assert [w.glob_pattern for w in watchers] == [
        "/w/a [[]1]/.qwen/.env",
        "/w/a [[]1]/.env",
        "/w/a [[]1]/.qwen/settings.json",
        *[f"/home/u/{name}" for name in HOME_FILES],
    ]


def test_glob_literal() -> None:
    assert glob_literal("/p/{x}*?[y]") == "/p/[{]x}[*][?][[]y]"
