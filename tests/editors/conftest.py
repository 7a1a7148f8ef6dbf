from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import fake as fake  # the FakeOpenAI fixture, shared
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def workspace(tmp_path: Path, fake: FakeOpenAI) -> Path:
    """A project whose .qwen/.env points at the fake endpoint."""
    folder = tmp_path / "project"
    (folder / ".qwen").mkdir(parents=True)
    (folder / ".qwen" / ".env").write_text(
        f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={fake.base_url}\n",
        encoding="utf-8",
    )
    return folder
