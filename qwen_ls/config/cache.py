"""Cheap repeated resolution: a folder is resolved again only when its inputs or one of
its watched files changed, and then only changed files are read again."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from qwen_ls.config.files import CachingReader, Fingerprint, fingerprint
from qwen_ls.config.model import EditorSettings, ResolvedConfig
from qwen_ls.config.resolve import resolve_with, watched_paths


class _Entry:
    def __init__(
        self,
        editor: EditorSettings,
        environ: dict[str, str],
        home: Path,
        paths: list[Path],
        stamps: list[Fingerprint],
        result: ResolvedConfig,
    ) -> None:
        self.editor = editor
        self.environ = environ
        self.home = home
        self.paths = paths
        self.stamps = stamps
        self.result = result

    def current(
        self, editor: EditorSettings, environ: dict[str, str], home: Path
    ) -> bool:
        return (
            self.editor == editor
            and self.environ == environ
            and self.home == home
            and self.stamps == _stamps(self.paths)
        )


class ConfigCache:
    """Resolved configuration per workspace folder (None: no folder)."""

    def __init__(self) -> None:
        self._entries: dict[Path | None, _Entry] = {}
        self._reader = CachingReader()

    def get(
        self,
        folder: Path | None,
        *,
        editor: EditorSettings,
        environ: Mapping[str, str],
        home: Path,
    ) -> ResolvedConfig:
        """The cached result while nothing changed; otherwise a fresh resolution."""
        snapshot = dict(environ)
        entry = self._entries.get(folder)
        if entry is not None and entry.current(editor, snapshot, home):
            return entry.result

        # Stamped before reading, so an edit made during resolution shows up next time.
        paths = watched_paths(folder, home)
        stamps = _stamps(paths)
        result = resolve_with(
            folder, editor=editor, environ=snapshot, home=home, reader=self._reader
        )
        self._entries[folder] = _Entry(editor, snapshot, home, paths, stamps, result)
        return result

    def invalidate(self, folder: Path | None = None) -> None:
        """Forget what was read for ``folder`` (everything when None)."""
        if folder is None:
            self._entries.clear()
            self._reader.forget()
            return
        entry = self._entries.pop(folder, None)
        if entry is not None:
            self._reader.forget(entry.paths)

    def changed(self, paths: list[Path]) -> None:
        """Files were reported created, changed or deleted: forget those reads and
        the folders watching them; every other file stays cached."""
        gone = set(paths)
        for folder, entry in list(self._entries.items()):
            if gone.intersection(entry.paths):
                del self._entries[folder]
        self._reader.forget(list(gone))

    def drop(self, folder: Path) -> None:
        """The folder left the workspace: keep nothing that only it needed."""
        self._entries.pop(folder, None)
        still_watched = {p for e in self._entries.values() for p in e.paths}
        self._reader.keep_only(still_watched)


def _stamps(paths: list[Path]) -> list[Fingerprint]:
    return [fingerprint(path) for path in paths]
