"""The server under hostile or unusual LSP traffic: it answers every request, names the
bad field, drops bad notifications, and keeps running."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.harness import lsp_session, write_env
from tests.e2e.rawlsp import RawLsp
from tests.fakes.openai_server import FakeOpenAI, slow_tokens, text_stream

INVALID_PARAMS = -32602
INVALID_REQUEST = -32600


async def test_unknown_command_is_an_error(workspace: Path) -> None:
    async with lsp_session("neovim", folders=[workspace]) as client:
        error = await client.command_error("qwen.nope", {})
        status = await client.command("qwen.status", {})
    assert error.code == INVALID_PARAMS
    assert "qwen.nope" in error.message and "qwen.chat" in error.message
    assert status["workspaceFolder"] == workspace.as_uri()


async def test_requests_after_shutdown_answer_invalid_request(workspace: Path) -> None:
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        started = time.monotonic()
        shutdown = await raw.request("shutdown")
        # Nothing runs: no waiting for commands to answer (SHUTDOWN_GRACE is 2 s).
        assert time.monotonic() - started < 1.5
        assert shutdown.get("result", "missing") is None
        late = await raw.request(
            "workspace/executeCommand", {"command": "qwen.status", "arguments": []}
        )
        assert late["error"]["code"] == INVALID_REQUEST
        raw.notify("exit")
        assert await asyncio.wait_for(raw.process.wait(), 5) == 0
    finally:
        await raw.close()


@pytest.mark.parametrize("chats", [1, 3])
async def test_shutdown_ends_running_chats_and_their_progress(
    fake: FakeOpenAI, workspace: Path, chats: int
) -> None:
    """With several chats running, shutdown once answered an internal error and left
    chats without an answer (found by a new user)."""
    fake.default = lambda request: slow_tokens(500, 0.05)
    write_env(workspace, f"OPENAI_BASE_URL={fake.base_url}\n")
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        running = [
            asyncio.ensure_future(
                raw.request(
                    "workspace/executeCommand",
                    {
                        "command": "qwen.chat",
                        "arguments": [{"prompt": "long"}],
                        "workDoneToken": f"wd{i}",
                    },
                )
            )
            for i in range(chats)
        ]
        while (
            sum(
                m.get("method") == "$/progress"
                and m["params"]["value"].get("kind") == "report"
                for m in raw.messages
            )
            < chats
        ):
            await asyncio.sleep(0.02)
        started = time.monotonic()
        shutdown = await raw.request("shutdown")
        answers = await asyncio.wait_for(asyncio.gather(*running), 5)
        raw.notify("exit")
        assert await asyncio.wait_for(raw.process.wait(), 5) == 0
        elapsed = time.monotonic() - started
    finally:
        await raw.close()
    assert "error" not in shutdown and shutdown["result"] is None, shutdown
    assert all(a["error"]["code"] == -32800 for a in answers), answers
    for i in range(chats):
        kinds = [
            m["params"]["value"]["kind"]
            for m in raw.messages
            if m.get("method") == "$/progress" and m["params"]["token"] == f"wd{i}"
        ]
        assert kinds[0] == "begin" and kinds[-1] == "end" and kinds.count("end") == 1
    assert await asyncio.to_thread(fake.wait_for_disconnect, 2.0)
    assert elapsed < 3


def test_server_exits_when_the_client_process_is_gone(tmp_path: Path) -> None:
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    server = subprocess.Popen(
        [sys.executable, "-m", "qwen_ls", "--clientProcessId", str(editor.pid)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        assert server.poll() is None, "runs while the editor runs"
        editor.kill()
        editor.wait()
        assert server.wait(timeout=5) == 0
    finally:
        for process in (server, editor):
            if process.poll() is None:
                process.kill()
                process.wait()


async def test_B58_content_length_counts_utf8_bytes(
    fake: FakeOpenAI, workspace: Path
) -> None:
    text = "你好 🌍 café"
    fake.script(text_stream(text, pieces=list(text)))
    write_env(workspace, f"OPENAI_BASE_URL={fake.base_url}\n")
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        source = workspace / "emoji.py"
        source.write_text("s = '🎉'\n", encoding="utf-8")
        raw.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": source.as_uri(), "languageId": "python",
                              "version": 1, "text": "s = '🎉'\n"}},
        )  # fmt: skip
        answer = await raw.request(
            "workspace/executeCommand",
            {"command": "qwen.chat",
             "arguments": [{"prompt": "说 🌍", "uri": source.as_uri(),
                            "partialResultToken": "p"}]},
        )  # fmt: skip
    finally:
        await raw.close()
    assert answer["result"]["text"] == text
    deltas = [
        m["params"]["value"]["delta"]
        for m in raw.messages
        if m.get("method") == "$/progress" and m["params"]["token"] == "p"
    ]
    assert "".join(deltas) == text
    assert len(raw.raw_frames) == len(raw.messages), "every frame parsed strictly"


MALFORMED = [
    pytest.param("textDocument/codeAction", {"textDocument": {"uri": "file:///x.py"}, "range": {"start": {"line": None, "character": 0}, "end": {"line": 0, "character": 0}}, "context": {"diagnostics": []}}, id="null-line"),
    pytest.param("textDocument/codeAction", {"textDocument": {"uri": "file:///x.py"}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}}, id="no-context"),
    pytest.param("workspace/executeCommand", {"command": "qwen.chat", "arguments": "not-a-list"}, id="arguments-not-a-list"),
    pytest.param("workspace/executeCommand", {"command": "qwen.chat", "arguments": [1, 2]}, id="two-arguments"),
    pytest.param("workspace/executeCommand", {"command": 7}, id="command-not-a-string"),
    pytest.param("workspace/executeCommand", None, id="no-params"),
    pytest.param("qwen/unknownRequest", {}, id="unknown-method"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "params"), MALFORMED)
async def test_B62_malformed_requests_get_an_error_and_the_server_goes_on(
    workspace: Path, method: str, params: object
) -> None:
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        started = time.monotonic()
        answer = await raw.request(method, params, timeout=5)
        assert time.monotonic() - started < 1
        raw.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": "file:///x.py", "version": 2},
                "contentChanges": 5,
            },
        )
        after = await raw.request(
            "workspace/executeCommand", {"command": "qwen.status", "arguments": [{}]}
        )
        assert raw.alive()
    finally:
        await raw.close()
    assert "error" in answer or answer.get("result") in (None, [])
    assert "result" in after


async def test_B62_fuzzed_messages_never_kill_the_server(workspace: Path) -> None:
    """500 random mutations of valid messages across the methods the server has."""
    rng = random.Random(1234)
    base = [
        ("workspace/executeCommand", {"command": "qwen.chat", "arguments": [{"prompt": "hi"}]}),
        ("workspace/executeCommand", {"command": "qwen.status", "arguments": [{}]}),
        ("workspace/executeCommand", {"command": "qwen.edit", "arguments": [{"uri": "file:///x.py", "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}, "instruction": "x"}]}),
        ("textDocument/codeAction", {"textDocument": {"uri": "file:///x.py"}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}, "context": {"diagnostics": []}}),
        ("codeAction/resolve", {"title": "Qwen: Explain"}),
        ("textDocument/didOpen", {"textDocument": {"uri": "file:///x.py", "languageId": "python", "version": 1, "text": "x"}}),
        ("textDocument/didChange", {"textDocument": {"uri": "file:///x.py", "version": 2}, "contentChanges": [{"text": "y"}]}),
        ("workspace/didChangeConfiguration", {"settings": {"qwen": {"model": "m"}}}),
        ("workspace/didChangeWorkspaceFolders", {"event": {"added": [], "removed": []}}),
        ("window/workDoneProgress/cancel", {"token": "t"}),
    ]  # fmt: skip
    weird = [
        None,
        0,
        -1,
        2**63,
        1.5,
        "",
        "x" * 10_000,
        [],
        {},
        [None],
        {"a": None},
        True,
    ]

    def mutate(value: object) -> object:
        if isinstance(value, dict) and value and rng.random() < 0.7:
            key = rng.choice(list(value))
            copy = dict(value)
            if rng.random() < 0.2:
                del copy[key]
            else:
                copy[key] = mutate(copy[key])
            return copy
        if isinstance(value, list) and value and rng.random() < 0.7:
            copy2 = list(value)
            index = rng.randrange(len(copy2))
            copy2[index] = mutate(copy2[index])
            return copy2
        return rng.choice(weird)

    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        requests = 0
        for _ in range(500):
            method, params = rng.choice(base)
            mutated = mutate(params)
            if method.startswith(("textDocument/did", "workspace/did", "window/")):
                raw.notify(method, mutated)
            else:
                answer = await raw.request(method, mutated, timeout=10)
                assert "error" in answer or "result" in answer
                requests += 1
        raw.send_bytes(b"Content-Length: 5\r\n\r\n{oops")
        status = await raw.request(
            "workspace/executeCommand", {"command": "qwen.status", "arguments": []}
        )
        assert raw.alive() and "result" in status
    finally:
        await raw.close()
    assert requests > 100


async def test_B53_B54_concurrent_chats_get_fresh_tokens_with_valid_payloads(
    fake: FakeOpenAI, workspace: Path
) -> None:
    fake.script(slow_tokens(10, 0.02), slow_tokens(10, 0.02))
    write_env(workspace, f"OPENAI_BASE_URL={fake.base_url}\n")
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        call = {"command": "qwen.chat", "arguments": [{"prompt": "x"}]}
        answers = await asyncio.gather(
            raw.request("workspace/executeCommand", call),
            raw.request("workspace/executeCommand", call),
        )
    finally:
        await raw.close()
    assert all("result" in a for a in answers)
    created = [
        m["params"]["token"]
        for m in raw.messages
        if m.get("method") == "window/workDoneProgress/create"
    ]
    assert len(created) == 2 and len(set(created)) == 2
    for token in created:
        values = [
            (i, m["params"]["value"])
            for i, m in enumerate(raw.messages)
            if m.get("method") == "$/progress" and m["params"]["token"] == token
        ]
        kinds = [v["kind"] for _, v in values]
        assert kinds[0] == "begin" and kinds.count("begin") == 1
        assert kinds[-1] == "end" and kinds.count("end") == 1
        create_index = next(
            i
            for i, m in enumerate(raw.messages)
            if m.get("method") == "window/workDoneProgress/create"
            and m["params"]["token"] == token
        )
        assert create_index < values[0][0]
        # B54: every value is a valid work-done payload.
        for _, value in values:
            assert set(value) <= {
                "kind",
                "title",
                "cancellable",
                "message",
                "percentage",
            }
            assert ("title" in value) == (value["kind"] == "begin")
            if "message" in value:
                assert "\n" not in value["message"] and len(value["message"]) <= 80


async def test_B53_no_progress_without_the_client_capability(
    fake: FakeOpenAI, workspace: Path
) -> None:
    fake.script(text_stream("ok"))
    write_env(workspace, f"OPENAI_BASE_URL={fake.base_url}\n")
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()], window={})
        answer = await raw.request(
            "workspace/executeCommand",
            {"command": "qwen.chat", "arguments": [{"prompt": "x"}]},
        )
    finally:
        await raw.close()
    assert answer["result"]["text"] == "ok"
    methods = {m.get("method") for m in raw.messages}
    assert "window/workDoneProgress/create" not in methods
    assert "$/progress" not in methods


def _stats_line(stats: dict[str, int]) -> str:
    return json.dumps(stats, sort_keys=True)


async def test_endurance_1000_chats_and_50_at_once_leave_nothing_behind(
    fake: FakeOpenAI, workspace: Path, record_property: object
) -> None:
    """Chats in a row and at once, with cancels and failures mixed in: the server's
    tables return to their size and memory stays flat. Prints the figures."""
    from tests.fakes.openai_server import status as http_status

    write_env(workspace, f"OPENAI_BASE_URL={fake.base_url}\n")
    async with lsp_session("neovim", folders=[workspace]) as client:
        for _ in range(3):
            await client.command("qwen.chat", {"prompt": "warm up"})
        before = await client.command("qwen.internalStats")

        started = time.monotonic()
        for i in range(1000):
            if i % 50 == 7:
                fake.script(http_status(400, {"error": {"message": "bad request"}}))
                await client.command_error("qwen.chat", {"prompt": f"fail {i}"})
            else:
                token = client.partial_token()
                await client.command(
                    "qwen.chat", {"prompt": f"chat {i}", "partialResultToken": token}
                )
                client.partials.pop(token, None)
            client.progress_reports.clear()
        in_a_row = time.monotonic() - started

        fake.script(*[slow_tokens(20, 0.05) for _ in range(10)])
        started = time.monotonic()
        chats = [
            asyncio.ensure_future(
                client.protocol.send_request_async(
                    types.WORKSPACE_EXECUTE_COMMAND,
                    types.ExecuteCommandParams(
                        command="qwen.chat", arguments=[{"prompt": f"at once {i}"}]
                    ),
                    msg_id=f"at-once-{i}",
                )
            )
            for i in range(50)
        ]
        while len(fake.requests) < 10 + 1003:
            await asyncio.sleep(0.01)
        for i in range(5):
            client.cancel_request(types.CancelParams(id=f"at-once-{i}"))
        results = await asyncio.gather(*chats, return_exceptions=True)
        at_once = time.monotonic() - started
        await asyncio.sleep(0.3)
        after = await client.command("qwen.internalStats")

    ok = sum(1 for r in results if isinstance(r, dict))
    cancelled = [r for r in results if getattr(r, "code", None) == -32800]
    assert ok == 45 and len(cancelled) == 5
    print(
        f"\n1000 chats in a row: {in_a_row:.1f} s; 50 at once: {at_once:.2f} s ({ok} ok)"
    )
    print(f"before: {_stats_line(before)}\nafter:  {_stats_line(after)}")
    for key in ("runningRequests", "requestFutures", "resultTypes", "progressTokens"):
        assert after[key] <= before[key], key
    assert after["sessions"] <= 64
    growth_mib = (after["rssKiB"] - before["rssKiB"]) / 1024
    print(f"RSS growth: {growth_mib:.1f} MiB")
    assert growth_mib < 20


async def test_cancel_request_ends_progress_before_answering(
    fake: FakeOpenAI, workspace: Path
) -> None:
    """A client-initiated token is valid until the response: `end` must come first."""
    fake.script(slow_tokens(200, 0.05))
    write_env(workspace, f"OPENAI_BASE_URL={fake.base_url}\n")
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        chat = asyncio.ensure_future(
            raw.request(
                "workspace/executeCommand",
                {"command": "qwen.chat", "arguments": [{"prompt": "long"}],
                 "workDoneToken": "wd-cancel"},
            )
        )  # fmt: skip
        while not any(m.get("method") == "$/progress" for m in raw.messages):
            await asyncio.sleep(0.02)
        raw.notify("$/cancelRequest", {"id": raw._next_id})
        answer = await asyncio.wait_for(chat, 5)
    finally:
        await raw.close()
    assert answer["error"]["code"] == -32800
    end_index = next(
        i
        for i, m in enumerate(raw.messages)
        if m.get("method") == "$/progress" and m["params"]["value"]["kind"] == "end"
    )
    answer_index = next(
        i
        for i, m in enumerate(raw.messages)
        if m.get("id") == answer["id"] and "method" not in m
    )
    assert end_index < answer_index


async def test_odd_work_done_token_and_idle_timeout_are_handled(
    fake: FakeOpenAI, workspace: Path
) -> None:
    fake.script(text_stream("ok"))
    write_env(workspace, f"OPENAI_BASE_URL={fake.base_url}\n")
    raw = await RawLsp.start()
    try:
        await raw.request(
            "initialize",
            {"processId": None, "capabilities": {},
             "workspaceFolders": [{"uri": workspace.as_uri(), "name": "w"}],
             "initializationOptions": {"qwen": {"idleTimeout": "abc"}}},
        )  # fmt: skip
        raw.notify("initialized", {})
        result = await raw.request(
            "workspace/executeCommand",
            {"command": "qwen.chat", "arguments": [{"prompt": "x"}],
             "workDoneToken": {"a": 1}},
        )  # fmt: skip
        status = await raw.request(
            "workspace/executeCommand", {"command": "qwen.status", "arguments": []}
        )
    finally:
        await raw.close()
    assert result["result"]["text"] == "ok"
    assert any("qwen.idleTimeout" in p for p in status["result"]["problems"])


async def test_dot_dot_in_a_uri_cannot_pick_another_folders_key(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, key in ((a, "sk-test-000A"), (b, "sk-test-000B")):
        folder.mkdir()
        write_env(folder, f"OPENAI_API_KEY={key}\nOPENAI_BASE_URL={fake.base_url}\n")
    async with lsp_session("neovim", folders=[a, b]) as client:
        sneaky = a.as_uri() + "/../b/util.py"
        await client.command("qwen.chat", {"prompt": "x", "uri": sneaky})
    assert fake.requests[-1].header("authorization") == "Bearer sk-test-000B"


COMMANDS = ["qwen.chat", "qwen.status", "qwen.edit", "qwen.auth", "qwen.logout",
            "qwen.listModels", "qwen.selectModel"]  # fmt: skip


async def test_every_command_names_the_bad_field(workspace: Path) -> None:
    """Extra, wrongly typed and huge arguments: InvalidParams naming the field, for
    every command, and the server goes on."""
    async with lsp_session("neovim", folders=[workspace]) as client:
        advertised = set(
            client.init_result.capabilities.execute_command_provider.commands
        )  # type: ignore[union-attr]
        assert set(COMMANDS) <= advertised
        for command in COMMANDS:
            extra = await client.command_error(command, {"bogusField": 1})
            assert extra.code == INVALID_PARAMS and "bogusField" in extra.message, (
                command
            )
            typed = await client.command_error(command, {"uri": 12})
            assert typed.code == INVALID_PARAMS and "uri" in typed.message, command
            huge = await client.command_error(
                command, {"uri": "file:///" + "x" * 10_000}
            )
            assert huge.code == INVALID_PARAMS and "uri" in huge.message, command
            not_object = await client.command_error(command, None) if command in (
                "qwen.chat", "qwen.edit") else None  # fmt: skip
            if not_object is not None:
                assert not_object.code == INVALID_PARAMS
        alive = await client.command("qwen.status", {})
    assert alive["workspaceFolder"] == workspace.as_uri()


async def test_editor_settings_apply_also_to_a_client_that_skips_initialized(
    workspace: Path,
) -> None:
    """initializationOptions are read after the answer to initialize (start-up): a
    command before `initialized` still sees them, and settings sent after them are not
    overwritten by them."""
    raw = await RawLsp.start()
    status = {"command": "qwen.status", "arguments": []}
    try:
        await raw.initialize(
            [workspace.as_uri()],
            options={"qwen": {"model": "from-init"}},
            initialized=False,
        )
        early = await raw.request("workspace/executeCommand", status)
        raw.notify(
            "workspace/didChangeConfiguration",
            {"settings": {"qwen": {"model": "from-change"}}},
        )
        raw.notify("initialized", {})
        later = await raw.request("workspace/executeCommand", status)
    finally:
        await raw.close()
    assert early["result"]["model"] == "from-init"
    assert later["result"]["model"] == "from-change"


@pytest.mark.parametrize("command", ["qwen.status", "qwen.chat"])
async def test_a_request_cancelled_before_it_arrives_is_still_answered(
    workspace: Path, command: str
) -> None:
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        raw.notify("$/cancelRequest", {"id": 77})
        future: asyncio.Future[dict[str, object]] = (
            asyncio.get_running_loop().create_future()
        )
        raw._waiters[77] = future
        raw.send(
            {"jsonrpc": "2.0", "id": 77, "method": "workspace/executeCommand",
             "params": {"command": command, "arguments": [{"prompt": "hi"}]}}
        )  # fmt: skip
        answer = await asyncio.wait_for(future, 5)
        after = await raw.request(
            "workspace/executeCommand", {"command": "qwen.status", "arguments": []}
        )
    finally:
        await raw.close()
    assert answer["error"] == {"code": -32800, "message": "request 77 was cancelled"}
    assert "result" in after


async def test_a_request_before_initialize_is_refused_with_server_not_initialized(
    workspace: Path,
) -> None:
    raw = await RawLsp.start()
    try:
        early = await raw.request(
            "workspace/executeCommand", {"command": "qwen.status", "arguments": []}
        )
        # A notification before initialize is dropped (found by a new user: this
        # one used to outrank the initializationOptions that followed).
        raw.notify(
            "workspace/didChangeConfiguration",
            {"settings": {"qwen": {"model": "before-initialize"}}},
        )
        await raw.initialize(
            [workspace.as_uri()], options={"qwen": {"model": "from-init"}}
        )
        later = await raw.request(
            "workspace/executeCommand", {"command": "qwen.status", "arguments": []}
        )
    finally:
        await raw.close()
    assert early["error"] == {
        "code": -32002,
        "message": "workspace/executeCommand before initialize: send initialize first",
    }
    assert later["result"]["workspaceFolder"] == workspace.as_uri()
    assert later["result"]["model"] == "from-init"


async def test_exit_without_shutdown_ends_with_code_1(workspace: Path) -> None:
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        raw.notify("exit")
        code = await asyncio.wait_for(raw.process.wait(), 5)
    finally:
        await raw.close()
    assert code == 1


async def test_a_cancel_after_the_answer_does_not_touch_a_later_request(
    workspace: Path,
) -> None:
    """Found by a new user: a late $/cancelRequest marked its id, and a client that
    used the id again got -32800."""
    status = {"command": "qwen.status", "arguments": []}
    raw = await RawLsp.start()
    try:
        await raw.initialize([workspace.as_uri()])
        first = await raw.request("workspace/executeCommand", status)
        raw.notify("$/cancelRequest", {"id": first["id"]})
        future: asyncio.Future[dict[str, object]] = (
            asyncio.get_running_loop().create_future()
        )
        raw._waiters[first["id"]] = future
        raw.send(
            {"jsonrpc": "2.0", "id": first["id"],
             "method": "workspace/executeCommand", "params": status}
        )  # fmt: skip
        again = await asyncio.wait_for(future, 5)
    finally:
        await raw.close()
    assert "result" in first and "result" in again, again
