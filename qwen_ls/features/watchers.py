"""The file watchers qwen-ls asks the editor for (`workspace/didChangeWatchedFiles`):
every configuration file of each workspace folder and of the home directory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lsprotocol import types

from qwen_ls.features.guard import ALLOWED_HOSTS_NAME

FOLDER_FILES = (".qwen/.env", ".env", ".qwen/settings.json")
HOME_FILES = (
    ".qwen/.env",
    ".env",
    ".qwen/settings.json",
    ".qwen/trustedFolders.json",
    ".qwen/oauth_creds.json",
    f".qwen/{ALLOWED_HOSTS_NAME}",
)


def watched_files(folders: Iterable[Path], home: Path) -> list[tuple[Path, str]]:
    """(base directory, relative path) of every file to watch, without repeats.

    The .env files of the directories above a folder are not watched (editors watch
    inside the workspace well, outside it poorly); the stat check before each
    request and the periodic status check see those.
    """
    seen: set[Path] = set()
    found: list[tuple[Path, str]] = []
    bases = [(folder, FOLDER_FILES) for folder in folders]
    for base, names in [*bases, (home, HOME_FILES)]:
        for name in names:
            path = base / name
            if path not in seen:
                seen.add(path)
                found.append((base, name))
    return found


def file_watchers(
    folders: Iterable[Path], home: Path, *, relative_patterns: bool
) -> list[types.FileSystemWatcher]:
    """One watcher per file: a RelativePattern where the client supports them, an
    absolute glob otherwise."""
    watchers = []
    for base, name in watched_files(folders, home):
        pattern: types.GlobPattern
        if relative_patterns:
            pattern = types.RelativePattern(base_uri=base.as_uri(), pattern=name)
        else:
            pattern = glob_literal((base / name).as_posix())
        watchers.append(types.FileSystemWatcher(glob_pattern=pattern))
    return watchers


def glob_literal(path: str) -> str:
    """``path`` as a glob matching only itself: wildcards become one-character
    classes (LSP glob patterns have no escape character)."""
    return "".join(f"[{ch}]" if ch in "*?[{" else ch for ch in path)
