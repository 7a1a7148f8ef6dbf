"""The server's per-request configuration path, without LSP: nothing is read again
while nothing changed, also with the host guard's file in play."""

from __future__ import annotations

from pathlib import Path

from qwen_ls.features.guard import allowed_hosts_path
from qwen_ls.server import QwenLanguageServer
from tests.config.helpers import write


def test_hot_path_reads_only_what_changed(
    tmp_path: Path, home: Path, reads: list[Path]
) -> None:
    ws = tmp_path / "ws"
    env = write(ws / ".qwen" / ".env", "OPENAI_BASE_URL=https://gw.test/v1\n")
    settings = write(home / ".qwen" / "settings.json", {"model": {"name": "m"}})
    allowed = write(allowed_hosts_path(home), '{"version": 1, "folders": {}}')
    server = QwenLanguageServer(
        environ={"HOME": str(home), "OPENAI_API_KEY": "sk-test-0000"}
    )

    first = server.config_for(ws.as_uri())
    assert sorted(reads) == sorted([env, settings, allowed])
    assert first.problems[-1].startswith("the first chat will ask before sending")
    reads.clear()

    for _ in range(5):
        assert server.config_for(ws.as_uri()).problems == first.problems
    assert reads == [], "nothing changed: stat only"

    server.allowed_hosts.allow(ws, "gw.test:443")
    assert "the first chat will ask" not in " ".join(
        server.config_for(ws.as_uri()).problems
    )
    reads.clear()

    write(settings, {"model": {"name": "m2"}})
    assert server.config_for(ws.as_uri()).model.value == "m2"
    assert reads == [settings]
