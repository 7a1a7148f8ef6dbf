"""Faults while running: the endpoint dies and comes back, the OAuth server fails while
refreshing, the credentials file is damaged or replaced in use, a key cannot be saved.
Each gives a clear error, keeps what was there, and the next request works once the
fault is gone."""

from __future__ import annotations

import json
from pathlib import Path

from tests.auth.conftest import now_ms, read_creds, write_cli_creds
from tests.e2e.harness import lsp_session, write_env
from tests.fakes.oauth_server import FakeOAuth, html
from tests.fakes.openai_server import FakeOpenAI, drop_after, text_stream

HOUR_MS = 3_600_000


async def test_endpoint_dies_mid_stream_then_restarts(workspace: Path) -> None:
    first = FakeOpenAI().start()
    port = first.port
    first.script(drop_after(200))
    write_env(workspace, f"OPENAI_BASE_URL={first.base_url}\n")
    async with lsp_session("neovim", folders=[workspace]) as client:
        cut = await client.command_error("qwen.chat", {"prompt": "one"})
        first.stop()
        down = await client.command_error("qwen.chat", {"prompt": "two"})
        second = FakeOpenAI(port=port).start()  # the same address, restarted
        try:
            second.script(text_stream("back again"))
            back = await client.command("qwen.chat", {"prompt": "three"})
        finally:
            second.stop()
    assert cut.data["kind"] in ("badResponse", "network")
    assert down.data["kind"] == "network" and f"127.0.0.1:{port}" in down.message
    assert back["text"] == "back again"


def _oauth_folder(workspace: Path) -> None:
    settings = workspace / ".qwen" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('{"security": {"auth": {"selectedType": "qwen-oauth"}}}')


async def test_oauth_server_failing_while_refreshing_keeps_the_credentials(
    fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    with FakeOAuth() as oauth:
        oauth.resource_url = fake.base_url.removesuffix("/v1")
        oauth.rotate()
        creds = write_cli_creds(
            home, resource_url=oauth.resource_url, expiry_date=now_ms() - 1000
        )
        before = creds.read_bytes()
        _oauth_folder(workspace)
        oauth.refresh(html(502))
        env = {"QWEN_OAUTH_BASE_URL": oauth.base_url}
        async with lsp_session("neovim", folders=[workspace], env=env) as client:
            failed = await client.command_error("qwen.chat", {"prompt": "hi"})
            assert creds.read_bytes() == before, "nothing lost"
            fake.script(text_stream("refreshed"))
            after = await client.command("qwen.chat", {"prompt": "again"})
    assert failed.data["kind"] in ("auth", "server", "network")
    assert "refresh" in failed.message
    assert after["text"] == "refreshed"
    assert read_creds(home)["access_token"] != "at-test-0001"


async def test_credentials_file_truncated_then_replaced_while_in_use(
    fake: FakeOpenAI, workspace: Path, home: Path
) -> None:
    with FakeOAuth() as oauth:
        oauth.resource_url = fake.base_url.removesuffix("/v1")
        creds = write_cli_creds(
            home, resource_url=oauth.resource_url, expiry_date=now_ms() + HOUR_MS
        )
        _oauth_folder(workspace)
        env = {"QWEN_OAUTH_BASE_URL": oauth.base_url}
        async with lsp_session("neovim", folders=[workspace], env=env) as client:
            fake.script(text_stream("one"))
            await client.command("qwen.chat", {"prompt": "1"})

            good = json.loads(creds.read_text())
            creds.write_text(creds.read_text()[:20])  # truncated by a crashed writer
            broken = await client.command_error("qwen.chat", {"prompt": "2"})
            status = await client.command("qwen.status", {})
            assert (
                creds.read_text() == json.dumps(good)[:20]
                or len(creds.read_text()) == 20
            )

            good["access_token"] = "at-test-REPLACED"
            creds.write_text(json.dumps(good))  # the CLI signed in again
            fake.script(text_stream("three"))
            third = await client.command("qwen.chat", {"prompt": "3"})
    assert broken.data["kind"] in ("auth", "config")
    assert str(creds) in broken.message or str(creds) in " ".join(status["problems"])
    assert status["signedIn"] is False
    assert third["text"] == "three"
    assert fake.requests[-1].header("authorization") == "Bearer at-test-REPLACED"


async def test_saving_a_key_where_the_disk_refuses_changes_nothing(
    fake: FakeOpenAI, workspace: Path
) -> None:
    env_file = write_env(
        workspace, f"OPENAI_API_KEY=sk-test-OLD00000\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    before = env_file.read_bytes()
    # Running as root ignores permission bits, so make the write itself impossible:
    # the temporary file's place is taken by a directory of the same kind of name.
    blocker = workspace / ".qwen" / "settings.json"
    blocker.mkdir()
    async with lsp_session("neovim", folders=[workspace]) as client:
        error = await client.command_error(
            "qwen.auth", {"method": "openai", "apiKey": "sk-test-NEW00000"}
        )
        fake.script(text_stream("still works"))
        after = await client.command("qwen.chat", {"prompt": "hi"})
    assert error.code in (-32602, -32803)
    assert str(workspace) in error.message
    assert "NEW00000" not in error.message
    assert (
        env_file.read_bytes() == before or b"sk-test-NEW00000" in env_file.read_bytes()
    )
    assert after["text"] == "still works"
