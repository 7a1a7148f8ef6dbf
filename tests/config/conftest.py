"""Fixtures for configuration tests: a workspace folder and a resolver bound to HOME."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from qwen_ls.config import EditorSettings, ResolvedConfig, resolve
from tests.config.helpers import Resolve


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace folder outside home."""
    folder = tmp_path / "ws"
    folder.mkdir()
    return folder


@pytest.fixture
def run(home: Path) -> Resolve:
    """Resolve against the test home: ``run(folder, environ=..., model=...)``."""

    def _run(
        folder: Path | None,
        *,
        environ: Mapping[str, str] | None = None,
        **editor: str,
    ) -> ResolvedConfig:
        return resolve(
            folder,
            editor=EditorSettings(**editor),
            environ=environ or {},
            home=home,
        )

    return _run
