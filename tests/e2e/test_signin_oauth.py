"""qwen.auth with Qwen OAuth end to end: the device flow against FakeOAuth (the server
finds it through QWEN_OAUTH_BASE_URL in its own environment), the page opened with
window/showDocument or shown in a message, progress, cancellation and failures."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError

from tests.e2e.harness import QwenTestClient, lsp_session
from tests.fakes.oauth_server import FakeOAuth, device_answer, html, oauth_error, tokens

REQUEST_FAILED = -32803
URL = "https://chat.test/authorize?user_code=ABCD-1234"
FAST = 0.05


@pytest.fixture
def oauth() -> Iterator[FakeOAuth]:
    with FakeOAuth() as server:
        server.resource_url = "http://127.0.0.1:9/v1"  # nothing is sent there
        yield server


def env(oauth: FakeOAuth) -> dict[str, str]:
    return {"QWEN_OAUTH_BASE_URL": oauth.base_url}


def creds_file(home: Path) -> Path:
    return home / ".qwen" / "oauth_creds.json"


def progress_of(client: QwenTestClient) -> tuple[Any, list[Any]]:
    token = next(iter(client.progress_reports))
    return token, client.progress_reports[token]


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def shown_text(client: QwenTestClient) -> str:
    return "\n".join(m.message for m in client.messages)


async def test_B24_success_after_pending_polls_opens_the_page(
    preset: str, oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    oauth.approve_after = 2
    oauth.device(device_answer(interval=FAST))
    async with lsp_session(preset, folders=[workspace], env=env(oauth)) as client:
        result = await client.command("qwen.auth", {"method": "qwen-oauth"})
        status = await client.command("qwen.status", {})

    assert result["authType"] == "qwen-oauth"
    assert result["signedIn"] is True
    assert result["model"] == "coder-model"
    assert [d.uri for d in client.shown_documents] == [URL]
    assert client.shown_documents[0].external is True
    assert URL not in shown_text(client), "no fallback message when the page opened"

    assert len(oauth.token_requests("device")) == 3
    saved = json.loads(creds_file(home).read_text())
    assert saved["access_token"] == "at-test-0001"
    assert saved["refresh_token"] == "rt-test-0001"
    assert saved["token_type"] == "Bearer"
    assert saved["resource_url"] == "http://127.0.0.1:9/v1"
    assert saved["expiry_date"] > time.time() * 1000 + 21_000_000
    assert stat.S_IMODE(os.stat(creds_file(home)).st_mode) == 0o600

    _token, reports = progress_of(client)
    assert next(r.kind for r in reports) == "begin"
    assert [r.kind for r in reports][-1] == "end"
    assert reports[0].title == "Qwen sign-in" and reports[0].cancellable is True
    assert reports[0].message.startswith("Waiting for sign-in in your browser")
    assert "ABCD-1234" in reports[0].message
    assert status["signedIn"] is True and status["authType"] == "qwen-oauth"
    assert str(creds_file(home)) in status["sources"]["apiKey"]
    assert client.statuses[-1]["signedIn"] is True


async def test_B24_slow_down_adds_five_seconds_and_keeps_polling(
    oauth: FakeOAuth, workspace: Path
) -> None:
    oauth.device(device_answer(interval=FAST))
    oauth.token(oauth_error("slow_down"), tokens(resource_url=oauth.resource_url))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        result = await client.command("qwen.auth", {"method": "qwen-oauth"})
    polls = [r.time for r in oauth.token_requests("device")]
    assert result["signedIn"] is True
    assert len(polls) == 2
    assert polls[1] - polls[0] >= 5.0


REFUSALS = [
    (oauth_error("access_denied"), "declined"),
    (oauth_error("expired_token"), "expired"),
    (html(404), "unexpected response"),
]


async def test_B25_refusals_stop_at_once(
    oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    """access_denied, expired_token and a non-JSON answer, one sign-in each."""
    oauth.device(*(device_answer(interval=FAST) for _ in REFUSALS))
    oauth.token(*(answer for answer, _ in REFUSALS))
    errors = []
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        for _ in REFUSALS:
            errors.append(
                await client.command_error("qwen.auth", {"method": "qwen-oauth"})
            )
        await asyncio.sleep(0.3)
    for error, (_, words) in zip(errors, REFUSALS, strict=True):
        assert error.code == REQUEST_FAILED
        assert words in error.message
        assert error.data["kind"] in ("auth", "server")
    assert len(oauth.token_requests("device")) == 3, "no poll after a refusal"
    assert not creds_file(home).exists()
    assert len(client.progress_reports) == 3
    for token in client.progress_reports:
        assert client.progress_kinds(token)[-1] == "end"


async def test_B25_polling_ends_when_the_code_expires(
    oauth: FakeOAuth, workspace: Path
) -> None:
    oauth.device(device_answer(interval=0.2, expires_in=1))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        started = time.monotonic()
        error = await client.command_error("qwen.auth", {"method": "qwen-oauth"})
        took = time.monotonic() - started
        polls = len(oauth.token_requests("device"))
        await asyncio.sleep(0.5)
    assert error.data["kind"] == "auth"
    assert "expired" in error.message
    assert took < 3
    assert len(oauth.token_requests("device")) == polls, "polling stopped"
    assert progress_of(client)[1][-1].kind == "end"


async def test_cancel_from_the_progress_stops_polling(
    oauth: FakeOAuth, workspace: Path, home: Path
) -> None:
    """B26 as well: while the sign-in waits, other requests answer at once."""
    oauth.device(device_answer(interval=FAST))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        auth = asyncio.ensure_future(
            client.command("qwen.auth", {"method": "qwen-oauth"})
        )
        await wait_for(lambda: len(oauth.token_requests("device")) >= 2)

        started = time.monotonic()
        status = await client.command("qwen.status", {})
        chat = await client.command_error("qwen.chat", {"prompt": "hi"})
        assert time.monotonic() - started < 2
        assert not auth.done()

        token, _ = progress_of(client)
        client.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token=token)
        )
        result = await asyncio.wait_for(auth, 5)
        polls = len(oauth.token_requests("device"))
        await asyncio.sleep(0.3)

    assert result["cancelled"] is True and result["signedIn"] is False
    assert any("cancelled" in m for m in result["messages"])
    assert client.progress_kinds(token)[-1] == "end"
    assert len(oauth.token_requests("device")) == polls, "polling stopped"
    assert not creds_file(home).exists()
    assert any("waiting for approval" in p for p in status["problems"])
    assert "ABCD-1234" in chat.message


async def test_a_second_sign_in_replaces_a_waiting_one(
    oauth: FakeOAuth, workspace: Path
) -> None:
    oauth.device(
        device_answer(interval=FAST, device_code="dc-first", user_code="FIRS-T111"),
        device_answer(interval=FAST, device_code="dc-second"),
    )
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        first = asyncio.ensure_future(
            client.command("qwen.auth", {"method": "qwen-oauth"})
        )
        await wait_for(lambda: len(oauth.token_requests("device")) >= 1)
        oauth.approve_after = len(oauth.token_requests("device")) + 3
        second = await client.command("qwen.auth", {"method": "qwen-oauth"})
        replaced = await asyncio.wait_for(first, 5)
    assert replaced["cancelled"] is True
    assert any("replaced by a newer one" in m for m in replaced["messages"])
    assert second["signedIn"] is True
    codes = {r.form["device_code"] for r in oauth.token_requests("device")}
    assert codes == {"dc-first", "dc-second"}
    last = oauth.token_requests("device")[-1]
    assert last.form["device_code"] == "dc-second"


async def test_cancel_request_stops_the_flow(oauth: FakeOAuth, workspace: Path) -> None:
    oauth.device(device_answer(interval=FAST))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        auth = asyncio.ensure_future(
            client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND,
                types.ExecuteCommandParams(
                    command="qwen.auth", arguments=[{"method": "qwen-oauth"}]
                ),
                msg_id=777,
            )
        )
        await wait_for(lambda: len(oauth.token_requests("device")) >= 1)
        client.cancel_request(types.CancelParams(id=777))
        with pytest.raises(Exception) as raised:
            await asyncio.wait_for(auth, 5)
        polls = len(oauth.token_requests("device"))
        await asyncio.sleep(0.3)
        alive = await client.command("qwen.status", {})
    assert getattr(raised.value, "code", None) == -32800
    assert len(oauth.token_requests("device")) == polls
    assert progress_of(client)[1][-1].kind == "end"
    assert alive["signedIn"] is False


async def test_B57_eglot_has_no_show_document_so_a_message_shows_url_and_code(
    oauth: FakeOAuth, workspace: Path
) -> None:
    oauth.approve_after = 1
    oauth.device(device_answer(interval=FAST))
    async with lsp_session("emacs", folders=[workspace], env=env(oauth)) as client:
        result = await client.command("qwen.auth", {"method": "qwen-oauth"})
    assert result["signedIn"] is True
    assert client.shown_documents == []
    assert URL in shown_text(client) and "ABCD-1234" in shown_text(client)


async def test_B57_show_document_failure_falls_back_to_a_message(
    oauth: FakeOAuth, workspace: Path
) -> None:
    """The client answers success: false, then a JSON-RPC error."""
    oauth.approve_after = 3
    oauth.device(device_answer(interval=FAST), device_answer(interval=FAST))
    results = []
    async with lsp_session(
        "visual_studio_code", folders=[workspace], env=env(oauth)
    ) as client:
        for answer in (False, JsonRpcInternalError("no browser")):
            client.show_document_result = answer
            client.messages.clear()
            results.append(await client.command("qwen.auth", {"method": "qwen-oauth"}))
            assert URL in shown_text(client) and "ABCD-1234" in shown_text(client)
    assert [r["signedIn"] for r in results] == [True, True]
    assert [d.uri for d in client.shown_documents] == [URL, URL]


async def test_B26_show_document_without_answer_falls_back_after_5_s(
    oauth: FakeOAuth, workspace: Path
) -> None:
    oauth.device(device_answer(interval=0.5))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        client.show_document_result = None
        auth = asyncio.ensure_future(
            client.command("qwen.auth", {"method": "qwen-oauth"})
        )
        await wait_for(lambda: client.shown_documents, 5)
        asked = time.monotonic()
        await wait_for(lambda: URL in shown_text(client), 8)
        waited = time.monotonic() - asked
        assert not auth.done(), "polling goes on meanwhile"
        oauth.approve_after = 0
        result = await asyncio.wait_for(auth, 5)
    assert 4.0 <= waited <= 6.5
    assert result["signedIn"] is True


async def initialize_raw(client: QwenTestClient, window: Any, folder: Path) -> None:
    """initialize with capabilities exactly as given (a typed client cannot send
    malformed ones)."""
    capabilities: dict[str, Any] = {"workspace": {"workspaceFolders": True}}
    if window is not None:
        capabilities["window"] = window
    params = {
        "processId": os.getpid(),
        "rootUri": None,
        "capabilities": capabilities,
        "workspaceFolders": [{"uri": folder.as_uri(), "name": folder.name}],
    }
    client.capabilities = types.ClientCapabilities()  # what pytest-lsp checks
    answered: concurrent.futures.Future[Any] = concurrent.futures.Future()
    client.protocol._request_futures["raw-init"] = answered
    client.protocol._send_data(
        {"jsonrpc": "2.0", "id": "raw-init", "method": "initialize", "params": params}
    )
    answer = await asyncio.wrap_future(answered)
    assert answer is not None
    client.protocol._send_data(
        {"jsonrpc": "2.0", "method": "initialized", "params": {}}
    )


@pytest.mark.parametrize(
    "window",
    [
        pytest.param(None, id="absent"),
        pytest.param({"showDocument": {"support": False}}, id="false"),
        pytest.param({"showDocument": True}, id="malformed-true"),
        pytest.param({"showDocument": {"support": "yes"}}, id="malformed-string"),
    ],
)
async def test_B57_no_show_document_unless_support_is_true(
    oauth: FakeOAuth, workspace: Path, window: Any
) -> None:
    oauth.approve_after = 1
    oauth.device(device_answer(interval=FAST))
    async with lsp_session(
        "neovim", folders=[workspace], env=env(oauth), initialize=False
    ) as client:
        await asyncio.wait_for(initialize_raw(client, window, workspace), 10)
        result = await client.command("qwen.auth", {"method": "qwen-oauth"})
    assert result["signedIn"] is True
    assert client.shown_documents == []
    assert URL in shown_text(client)


async def test_sign_in_needs_no_restart_for_an_api_key_folder(
    oauth: FakeOAuth, workspace: Path
) -> None:
    """A folder that chose an API key switches to Qwen OAuth once signed in: the
    sign-in selects it in the workspace settings."""
    (workspace / ".qwen").mkdir()
    (workspace / ".qwen" / ".env").write_text("OPENAI_API_KEY=sk-test-0000\n")
    oauth.approve_after = 0
    oauth.device(device_answer(interval=FAST))
    async with lsp_session("neovim", folders=[workspace], env=env(oauth)) as client:
        before = await client.command("qwen.status", {})
        result = await client.command("qwen.auth", {"method": "qwen-oauth"})
    assert before["authType"] == "openai"
    assert result["authType"] == "qwen-oauth" and result["signedIn"] is True
    settings = (workspace / ".qwen" / "settings.json").read_text()
    assert '"selectedType": "qwen-oauth"' in settings
    assert client.statuses[-1]["authType"] == "qwen-oauth"


async def test_unreachable_oauth_server_is_a_network_error(workspace: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with lsp_session(
        "neovim",
        folders=[workspace],
        env={"QWEN_OAUTH_BASE_URL": f"http://127.0.0.1:{port}"},
    ) as client:
        error = await client.command_error("qwen.auth", {"method": "qwen-oauth"})
    assert error.data["kind"] == "network"
    assert f"127.0.0.1:{port}" in error.message


BAD_ARGUMENTS = [
    ({"method": "qwen-oauth", "apiKey": "sk-test-0000"}, "apiKey"),
    ({"method": "qwen-oauth", "baseUrl": "http://127.0.0.1:9"}, "baseUrl"),
    ({"method": "github"}, "method"),
    ({"method": "openai", "scope": "team"}, "scope"),
    ({"method": "openai", "apiKey": "sk-test-0000", "bogus": 1}, "bogus"),
]


async def test_bad_auth_arguments_name_the_field(workspace: Path) -> None:
    async with lsp_session("neovim", folders=[workspace]) as client:
        errors = [
            await client.command_error("qwen.auth", args) for args, _ in BAD_ARGUMENTS
        ]
    for error, (_, field) in zip(errors, BAD_ARGUMENTS, strict=True):
        assert error.code == -32602 and field in error.message
        assert "sk-test-0000" not in error.message
