"""Helpers for configuration tests: write files into a temp workspace and home."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from qwen_ls.config import ResolvedConfig

Resolve = Callable[..., ResolvedConfig]


def write(path: Path, content: str | bytes | dict[str, Any]) -> Path:
    """Create ``path`` (and its parents) with text, bytes or a JSON object."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        content = json.dumps(content)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def files(root: Path, home: Path, layout: Mapping[str, str | dict[str, Any]]) -> None:
    """Write ``layout``: keys are paths relative to the workspace, or ``~/...``."""
    for name, content in layout.items():
        target = home / name[2:] if name.startswith("~/") else root / name
        write(target, content)
