"""Chats of a folder signed in with Qwen OAuth, end to end: credentials shared with the
Qwen Code CLI (its file format, its lock), the token sent only to resource_url (a
FakeOpenAI on 127.0.0.1), refresh ahead of expiry and after a 401, sign-out when the
refresh is refused, and the closed free tier."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.auth.conftest import now_ms, read_creds, write_cli_creds
from tests.e2e.harness import lsp_session
from tests.fakes.oauth_server import FakeOAuth, oauth_error
from tests.fakes.openai_server import FakeOpenAI, status, text_stream

HOUR_MS = 3_600_000


@pytest.fixture
def oauth(fake: FakeOpenAI) -> Iterator[FakeOAuth]:
    with FakeOAuth() as server:
        server.resource_url = fake.base_url.removesuffix("/v1")
        server.rotate()
        yield server


def env(oauth: FakeOAuth) -> dict[str, str]:
    return {"QWEN_OAUTH_BASE_URL": oauth.base_url}


def signed_in(home: Path, fake: FakeOpenAI, **fields: Any) -> Path:
    """Credentials as the Qwen CLI writes them, valid for an hour unless given."""
    values: dict[str, Any] = {
        "resource_url": fake.base_url.removesuffix("/v1"),
        "expiry_date": now_ms() + HOUR_MS,
    }
    values.update(fields)
    return write_cli_creds(home, **values)


def bearers(fake: FakeOpenAI) -> list[str | None]:
    return [r.header("authorization") for r in fake.requests]


async def test_B30_cli_credentials_send_the_token_only_to_resource_url(
    preset: str, fake: FakeOpenAI, oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    creds = signed_in(home, fake, id_token="x", future_field={"a": 1})
    with FakeOpenAI() as decoy:
        settings = workspace / ".qwen" / "settings.json"
        settings.parent.mkdir()
        settings.write_text(
            '{"security": {"auth": {"selectedType": "qwen-oauth"}}, '
            '"model": {"name": "qwen3-coder-plus"}}'
        )
        (workspace / ".qwen" / ".env").write_text(
            f"OPENAI_BASE_URL={decoy.base_url}\nOPENAI_API_KEY=sk-test-0000\n"
        )
        fake.script(text_stream("hello from the portal"))
        async with lsp_session(preset, folders=[workspace], env=env(oauth)) as client:
            result = await client.command("qwen.chat", {"prompt": "hi"})
            status_ = await client.command("qwen.status", {})
        assert decoy.requests == []

    assert result["text"] == "hello from the portal"
    assert result["model"] == "coder-model"
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.header("authorization") == "Bearer at-test-0001"
    assert sent.json["model"] == "coder-model"
    assert oauth.requests == [], "a valid token needs no refresh"

    assert status_["authType"] == "qwen-oauth" and status_["signedIn"] is True
    assert status_["baseUrl"] == fake.base_url
    assert status_["model"] == "coder-model"
    assert str(creds) in status_["sources"]["baseUrl"]
    assert str(creds) in status_["sources"]["apiKey"]
    assert status_["apiKey"] is None
    assert any(
        "qwen3-coder-plus" in p and "coder-model" in p for p in status_["problems"]
    )
    assert "at-test-0001" not in json.dumps(status_)


async def test_B30_expired_credentials_are_refreshed_and_stay_cli_readable(
    fake: FakeOpenAI, oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    creds = signed_in(
        home, fake, expiry_date=now_ms() - 1000, id_token="x", future_field={"a": 1}
    )
    fake.script(text_stream("ok"))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        await client.command("qwen.chat", {"prompt": "hi"})

    assert bearers(fake) == ["Bearer at-test-0002"]
    assert len(oauth.token_requests("refresh_token")) == 1
    saved = read_creds(home)
    assert list(saved)[:5] == [
        "access_token",
        "refresh_token",
        "token_type",
        "resource_url",
        "expiry_date",
    ]
    assert saved["access_token"] == "at-test-0002"
    assert saved["refresh_token"] == "rt-test-0002"
    assert saved["id_token"] == "x" and saved["future_field"] == {"a": 1}
    assert saved["expiry_date"] > now_ms() + 21_000_000
    assert creds.read_text().startswith('{\n  "access_token"')
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    assert not (home / ".qwen" / "oauth_creds.lock").exists()


async def test_B27_chat_waits_for_a_held_lock(
    fake: FakeOpenAI, oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    signed_in(home, fake, expiry_date=now_ms() - 1000)
    lock = home / ".qwen" / "oauth_creds.lock"
    lock.write_text("held-by-the-cli")
    fake.script(text_stream("ok"))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        chat = asyncio.ensure_future(client.command("qwen.chat", {"prompt": "hi"}))
        await asyncio.sleep(0.8)
        assert not chat.done(), "waits while another process holds the lock"
        assert oauth.token_requests("refresh_token") == []
        lock.unlink()
        result = await asyncio.wait_for(chat, 10)
    assert result["text"] == "ok"
    assert bearers(fake) == ["Bearer at-test-0002"]
    assert len(oauth.token_requests("refresh_token")) == 1


async def test_B27_a_stale_lock_is_broken(
    fake: FakeOpenAI, oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    signed_in(home, fake, expiry_date=now_ms() - 1000)
    lock = home / ".qwen" / "oauth_creds.lock"
    lock.write_text("left-by-a-crashed-cli")
    old = time.time() - 60
    os.utime(lock, (old, old))
    fake.script(text_stream("ok"))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        started = time.monotonic()
        await client.command("qwen.chat", {"prompt": "hi"})
        took = time.monotonic() - started
    assert took < 3
    assert bearers(fake) == ["Bearer at-test-0002"]
    assert not lock.exists()


async def test_B27_two_servers_refresh_once(
    fake: FakeOpenAI, oauth: FakeOAuth, tmp_path: Path, home: Path
) -> None:
    signed_in(home, fake, expiry_date=now_ms() - 1000)
    oauth.refresh_delay = 0.3
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    async with (
        lsp_session("neovim", folders=[a], env=env(oauth)) as first,
        lsp_session("visual_studio_code", folders=[b], env=env(oauth)) as second,
    ):
        results = await asyncio.gather(
            first.command("qwen.chat", {"prompt": "1"}),
            second.command("qwen.chat", {"prompt": "2"}),
        )
    assert [r["finishReason"] for r in results] == ["stop", "stop"]
    assert len(oauth.token_requests("refresh_token")) == 1
    assert bearers(fake) == ["Bearer at-test-0002", "Bearer at-test-0002"]
    saved = read_creds(home)
    assert saved["access_token"] == "at-test-0002"
    assert saved["refresh_token"] == "rt-test-0002"


REJECTED = status(
    401,
    {
        "error": {
            "code": "invalid_api_key",
            "message": "invalid access token or token expired",
            "type": "invalid_request_error",
        }
    },
)


async def test_B32_401_refreshes_once_and_retries_once(
    fake: FakeOpenAI, oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    signed_in(home, fake)
    fake.script(REJECTED, text_stream("after refresh"))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        result = await client.command("qwen.chat", {"prompt": "hi"})
    assert result["text"] == "after refresh"
    assert bearers(fake) == ["Bearer at-test-0001", "Bearer at-test-0002"]
    assert len(oauth.token_requests("refresh_token")) == 1
    assert read_creds(home)["access_token"] == "at-test-0002"


async def test_B33_a_second_401_is_an_error_and_no_loop(
    fake: FakeOpenAI, oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    no_access = status(403, {"error": {"message": "account has no model access"}})
    signed_in(home, fake)
    fake.script(no_access, no_access)
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        error = await client.command_error("qwen.chat", {"prompt": "hi"})
        again = await client.command_error("qwen.chat", {"prompt": "again"})
        status_ = await client.command("qwen.status", {})
        notified = client.statuses[-1]["signedIn"]
        signed_in(home, fake, access_token="at-test-0009", refresh_token="rt-test-0009")
        fake.script(text_stream("signed in again"))
        after = await client.command("qwen.chat", {"prompt": "new credentials"})
    assert after["text"] == "signed in again"
    assert error.data["kind"] == "auth"
    assert "account has no model access" in error.message
    assert "Coding Plan" in error.message and "API key" in error.message
    assert bearers(fake)[:2] == ["Bearer at-test-0001", "Bearer at-test-0002"]
    assert len(oauth.token_requests("refresh_token")) == 1
    assert again.data["kind"] == "auth", "fails fast until the credentials change"
    assert len(fake.requests) == 3 and bearers(fake)[2] == "Bearer at-test-0009"
    assert status_["signedIn"] is False
    assert notified is False


async def test_B32_refused_refresh_signs_out_once(
    fake: FakeOpenAI, oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    signed_in(home, fake)
    fake.script(REJECTED)
    oauth.refresh(oauth_error("invalid_grant"))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        error = await client.command_error("qwen.chat", {"prompt": "hi"})
        await asyncio.sleep(0.1)
        again = await client.command_error("qwen.chat", {"prompt": "again"})
    assert error.data["kind"] == "auth"
    assert "sign in again" in error.message
    assert any("sign in again" in m.message for m in client.messages)
    assert client.statuses[-1]["signedIn"] is False
    assert not (home / ".qwen" / "oauth_creds.json").exists()
    assert len(fake.requests) == 1
    assert len(oauth.token_requests("refresh_token")) == 1
    assert again.data["kind"] in ("config", "auth")


CLOSED_TIER = [
    status(429, {"error": {"code": "insufficient_quota", "message": "You exceeded your quota"}}),
    status(403, {"error": {"message": "Qwen OAuth free tier was discontinued"}}),
    status(401, {"error": {"message": "free allocated quota exceeded"}}),
]  # fmt: skip


async def test_B33_closed_free_tier_points_to_coding_plan(
    fake: FakeOpenAI, oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    """Each answer with fresh credentials (as after signing in again)."""
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        for n, answer in enumerate(CLOSED_TIER, 1):
            signed_in(home, fake, access_token=f"at-test-100{n}")
            fake.script(answer)
            error = await client.command_error("qwen.chat", {"prompt": "hi"})
            again = await client.command_error("qwen.chat", {"prompt": "again"})
            assert error.data["kind"] == "auth"
            assert "coding-plan" in error.message and "openai" in error.message
            assert again.data["kind"] == "auth"
            assert len(fake.requests) == n, "no retry, and later requests fail fast"
    assert oauth.token_requests("refresh_token") == [], "no refresh"
