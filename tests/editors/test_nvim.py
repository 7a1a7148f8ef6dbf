"""The Neovim plugin (editors/nvim) in a real headless Neovim, driving the real server
against FakeOpenAI (and FakeOAuth) on 127.0.0.1. Each test runs one Lua scenario from
tests/editors/nvim/scenarios; see nvim_driver.py."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.editors.nvim_driver import PLUGIN_DIR, run_nvim
from tests.fakes.oauth_server import FakeOAuth, device_answer, oauth_error, tokens
from tests.fakes.openai_server import FakeOpenAI, slow_tokens, text_stream

pytestmark = pytest.mark.timeout(45)

APP = "def add(a, b):\n    return a+b\n"


@pytest.fixture
def app(workspace: Path) -> Path:
    path = workspace / "app.py"
    path.write_text(APP, encoding="utf-8")
    return path


def count(lines: list[str], word: str) -> int:
    return "\n".join(lines).count(word)


def test_chat_streams_into_the_buffer_and_follow_ups_continue(
    tmp_path: Path, fake: FakeOpenAI, workspace: Path, app: Path
) -> None:
    fake.script(
        slow_tokens(20, 0.05, token="tok "),
        text_stream("Second answer.\nWith two lines."),
    )

    result = run_nvim("chat_stream", tmp_path, cwd=workspace, params={"file": str(app)})

    assert result["statusline"] == "Qwen: qwen3-coder-plus"
    assert result["chat_shown"] is True
    assert result["stayed_in_source"] is True

    mid = result["mid"]
    assert mid["running"] is True
    assert mid["lines"][:4] == ["## You", "Say it", "", "## Qwen"]
    assert 2 <= count(mid["lines"], "tok") < 20, "sampled while streaming"
    assert mid["lines"][4] == "tok " * count(mid["lines"], "tok")
    assert mid["statusline"].startswith("Qwen: qwen3-coder-plus … ")

    # B54: the answer's pieces never reach Neovim's progress handling, which sees
    # only well-formed work-done progress.
    progress = result["progress"]
    assert all(p["kind"] in ("begin", "report", "end") for p in progress), progress
    assert [p["kind"] for p in progress].count("begin") == 4  # three chats, one action
    assert {p["title"] for p in progress} == {"Qwen"}

    first = result["first"]
    assert first["lines"] == ["## You", "Say it", "", "## Qwen", "tok " * 20, ""]
    assert first["outcome"]["text"] == "tok " * 20
    assert first["outcome"]["finishReason"] == "stop"

    second = result["second"]
    assert second["lines"] == [
        *first["lines"],
        "## You",
        "And again?",
        "",
        "## Qwen",
        "Second answer.",
        "With two lines.",
        "",
    ]
    assert second["outcome"]["sessionId"] == first["outcome"]["sessionId"]
    messages = fake.chat_requests()[1].json["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "Say it"
    assert messages[2]["content"] == "tok " * 20
    assert messages[3]["content"] == "And again?"

    env_file = workspace / ".qwen" / ".env"
    status = result["status"].splitlines()
    assert status[2].startswith("Auth type: openai  (")
    assert status[:2] + status[3:] == [
        "Qwen: ready, model qwen3-coder-plus",
        f"Workspace folder: {workspace.as_uri()}",
        "Model: qwen3-coder-plus  (default)",
        f"Base URL: {fake.base_url}  (OPENAI_BASE_URL in {env_file})",
        f"API key: sk-…0000  (OPENAI_API_KEY in {env_file})",
        f".env file: {env_file}",
    ]

    explained = result["explained"]
    assert explained["lines"][0] == "## You (app.py, lines 1-2)"
    assert explained["lines"][1].startswith("Explain what this code does")
    assert explained["outcome"]["text"].startswith("echo: Context from ")
    assert explained["outcome"]["sessionId"] != first["outcome"]["sessionId"]

    ranged = result["ranged"]
    assert ranged["lines"][:2] == ["## You (app.py, line 2)", "What does this line do?"]
    asked = fake.chat_requests()[-1].json["messages"]
    assert len(asked) == 2, "a new conversation"
    assert asked[-1]["content"] == (
        f"Context from {app}, line 2:\n```python\n    return a+b\n```\n\n"
        "What does this line do?"
    )


def test_stop_key_in_the_chat_cancels_the_stream(
    tmp_path: Path, fake: FakeOpenAI, workspace: Path
) -> None:
    fake.script(slow_tokens(200, 0.05, token="tok "))

    result = run_nvim("chat_cancel", tmp_path, cwd=workspace)

    assert fake.wait_for_disconnect(2), "the upstream stream was not closed"
    outcome = result["outcome"]
    assert outcome["finishReason"] == "cancelled"
    arrived = outcome["text"].count("tok")
    assert 3 <= arrived < 200
    lines = result["lines"]
    assert lines[4] == "tok " * arrived
    assert lines[-3:] == ["", "_(stopped)_", ""]
    assert result["stop_ms"] < 2000


@pytest.fixture
def models_workspace(workspace: Path, fake: FakeOpenAI) -> Path:
    """Two models, offered both by the provider list and by the endpoint."""
    fake.models = ["qwen3-coder-plus", "qwen-next-test"]
    providers = [
        {
            "id": "qwen3-coder-plus",
            "name": "Qwen3 Coder Plus",
            "baseUrl": fake.base_url,
        },
        {"id": "qwen-next-test", "name": "Next (test)", "baseUrl": fake.base_url},
    ]
    settings = {"modelProviders": {"openai": providers}}
    (workspace / ".qwen" / "settings.json").write_text(
        json.dumps(settings), encoding="utf-8"
    )
    return workspace


def test_model_picker_switches_the_model_of_the_next_chat(
    tmp_path: Path, fake: FakeOpenAI, models_workspace: Path, app: Path
) -> None:
    result = run_nvim(
        "model",
        tmp_path,
        cwd=models_workspace,
        params={
            "file": str(app),
            "pick": "qwen-next-test",
            "then_pick": "qwen3-coder-plus",
        },
    )

    offered = {item["id"] for item in result["offered"]}
    assert {"qwen3-coder-plus", "qwen-next-test"} <= offered
    for item in result["offered"]:
        name = item.get("name") or item["id"]
        expected = name if name == item["id"] else f"{name} ({item['id']})"
        expected += f" · {item['source']}" if item.get("source") else ""
        assert item["label"].startswith(expected), item

    models = [r.json["model"] for r in fake.chat_requests()]
    assert models == ["qwen-next-test", "qwen3-coder-plus"]
    assert result["first"]["model"] == "qwen-next-test"
    assert result["statusline_after_pick"] == "Qwen: qwen-next-test"
    assert result["second"]["model"] == "qwen3-coder-plus"


@pytest.fixture
def oauth() -> Iterator[FakeOAuth]:
    server = FakeOAuth().start()
    try:
        yield server
    finally:
        server.stop()


def test_B57_auth_opens_the_verification_page_or_prints_the_code(
    tmp_path: Path, fake: FakeOpenAI, oauth: FakeOAuth
) -> None:
    # A project without any key, so that the sign-in decides the auth type.
    workspace = tmp_path / "signin-project"
    (workspace / ".qwen").mkdir(parents=True)
    app = workspace / "app.py"
    app.write_text(APP, encoding="utf-8")
    # resource_url on loopback: nothing this test does may leave 127.0.0.1.
    signed_in = tokens(resource_url=fake.base_url)
    pending = oauth_error("authorization_pending")
    for _ in range(2):
        oauth.device(device_answer(interval=0.1, user_code="ABCD-1234"))
        oauth.token(pending, signed_in)

    result = run_nvim(
        "auth",
        tmp_path,
        cwd=workspace,
        params={"file": str(app)},
        env={"QWEN_OAUTH_BASE_URL": oauth.base_url},
        timeout=35,
    )

    url = "https://chat.test/authorize?user_code=ABCD-1234"
    assert result["opened"] == [url, url]
    assert result["signed_in"].startswith("Qwen: signed in (qwen-oauth)")
    assert json.loads(result["creds"])["access_token"] == "at-test-0001"

    # The server's own message (window/showMessage, or a showMessageRequest prompt).
    shown = [n["message"] for n in result["without_browser"]]
    from_server = [m for m in shown if m.startswith(("LSP[qwen_ls] ", "select: "))]
    assert any(
        "ABCD-1234" in m and "https://chat.test/authorize" in m for m in from_server
    ), f"the server shows the code when no browser opens: {shown}"
    assert (
        f"Qwen: no browser could be opened. Open this address yourself: {url}" in shown
    )

    if "logout" in result:  # once the server offers qwen.logout
        assert result["logout"] == "Qwen: signed out"
        assert result["creds_after_logout"] is False


EDIT_SOURCE = 'def add(a, b):\n    return a+b\n\n\nx = "é" + foo(1)\n'


def test_edit_replaces_the_selection_with_the_extracted_code(
    tmp_path: Path, fake: FakeOpenAI, workspace: Path
) -> None:
    path = workspace / "calc.py"
    path.write_text(EDIT_SOURCE, encoding="utf-8")
    fake.script(
        text_stream(
            "Here you are:\n```python\ndef add(a: int, b: int) -> int:\n"
            "    return a + b\n```\nDone."
        ),
        text_stream("```python\nbar(2)\n```"),
        text_stream("```python\n    return None\n```", pieces=4, delay=0.3),
    )

    result = run_nvim(
        "edit", tmp_path, cwd=workspace, params={"file": str(path), "char_line": 5}
    )

    assert result["after_lines"] == [
        "def add(a: int, b: int) -> int:",
        "    return a + b",
        "",
        "",
        'x = "é" + foo(1)',
    ]
    assert result["after_chars"] == [
        "def add(a: int, b: int) -> int:",
        "    return a + b",
        "",
        "",
        'x = "é" + bar(2)',
    ]
    assert result["after_refused"] == [*result["after_chars"], "# typed meanwhile"]
    assert result["refused"].startswith("Qwen did not apply the edit: ")
    assert "changed" in result["refused"]
    assert result["windows"] == 2 and result["proposal"] == ["    return None"]


def test_checkhealth_reports_ok(tmp_path: Path, workspace: Path, app: Path) -> None:
    result = run_nvim("checkhealth", tmp_path, cwd=workspace, params={"file": str(app)})

    lines = result["lines"]
    text = "\n".join(lines)
    ok = [line for line in lines if "OK" in line]
    assert any(f"server command: {sys.executable} " in line for line in ok), text
    assert any("version: qwen-ls " in line for line in ok), text
    assert any(f"{workspace}: openai, model qwen3-coder-plus" in line for line in ok), (
        text
    )
    assert "ERROR" not in text
    warnings = [line for line in lines if "WARNING" in line]
    assert all("does not offer" in line for line in warnings), text


def test_plugin_files_load_and_help_has_tags(tmp_path: Path) -> None:
    doc_copy = tmp_path / "rt" / "doc"
    shutil.copytree(PLUGIN_DIR / "doc", doc_copy)

    result = run_nvim(
        "plugin_files", tmp_path, cwd=tmp_path, params={"doc_copy": str(doc_copy)}
    )

    assert result["broken"] == []
    assert result["help_file"] == "qwen_ls.txt"
    assert "*:QwenChat*" in result["help_line"]
    assert result["bad_cmd"]["ok"] is False
    assert "cmd" in result["bad_cmd"]["err"]
    assert result["has_checkhealth"] is True


@pytest.mark.parametrize("with_lsp_file", [False, True], ids=["plain", "lsp-dir"])
def test_plain_lsp_config_attaches_and_runs_chat(
    tmp_path: Path, fake: FakeOpenAI, workspace: Path, app: Path, with_lsp_file: bool
) -> None:
    fake.script(text_stream("Hello from qwen-ls", pieces=4, delay=0.08))

    result = run_nvim(
        "plain_config",
        tmp_path,
        cwd=workspace,
        params={"file": str(app)},
        plugin=with_lsp_file,
    )

    assert result["root"] == str(workspace)
    assert {"qwen.chat", "qwen.status", "qwen.edit"} <= set(result["commands"])
    answer = result["answer"]
    assert "err" not in answer, answer
    assert answer["result"]["text"] == "Hello from qwen-ls"
    progress = result["progress"]
    kinds = [p["kind"] for p in progress]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    assert all(p["title"] == "Qwen" for p in progress)
    reports = [p["message"] for p in progress if p["kind"] == "report"]
    assert all("Hello from qwen-ls".startswith(m) for m in reports), reports
    assert progress[-1]["message"] == "Done (4 tokens)"
    assert {"qwen.chat", "qwen.edit"} <= {a["command"] for a in result["actions"]}
    if with_lsp_file:
        assert result["statusline"] == "Qwen: qwen3-coder-plus"
