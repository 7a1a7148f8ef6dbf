"""Every test gets a temporary HOME and an environment without keys, proxies or TLS
settings, so nothing on the developer's machine leaks into a test or out of it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

_CLEARED = re.compile(
    r"^(OPENAI_.*|QWEN_.*|DASHSCOPE_.*|BAILIAN_.*|.*_API_KEY|.*_TOKEN"
    r"|HTTPS?_PROXY|ALL_PROXY|NO_PROXY|SSL_CERT_.*|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE"
    r"|DEBUG|DEBUG_MODE|XDG_.*)$",
    re.IGNORECASE,
)


@pytest.fixture(autouse=True)
def clean_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if _CLEARED.match(name):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.setenv("NO_BROWSER", "1")
    return home


@pytest.fixture
def home(clean_env: Path) -> Path:
    return clean_env


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every configuration file read (config.files.read_bytes), in order."""
    from qwen_ls.config import files as config_files

    seen: list[Path] = []
    original = config_files.read_bytes

    def counting(path: Path) -> bytes:
        seen.append(path)
        return original(path)

    monkeypatch.setattr(config_files, "read_bytes", counting)
    return seen
