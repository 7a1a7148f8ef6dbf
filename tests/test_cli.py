"""`qwen-ls chat`, `qwen-ls status` and the server flags, run as subprocesses."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI, text_stream


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


def run(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qwen_ls", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def project(tmp_path: Path, env: str) -> Path:
    folder = tmp_path / "proj"
    (folder / ".qwen").mkdir(parents=True)
    (folder / ".qwen" / ".env").write_text(env, encoding="utf-8")
    return folder


def test_chat_streams_the_answer(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(
        text_stream("Hello from the model", pieces=["Hello ", "from ", "the model"])
    )
    folder = project(
        tmp_path, f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    (folder / "a.py").write_text("x = 1\n", encoding="utf-8")

    done = run("chat", "--file", "a.py", "What", "is", "this?", cwd=folder)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hello from the model\n"
    sent = fake.requests[-1].json["messages"][-1]["content"]
    assert sent.endswith("What is this?") and "x = 1" in sent
    assert fake.requests[-1].header("authorization") == "Bearer sk-test-0000"


def test_chat_without_endpoint_fails_with_one_line(tmp_path: Path) -> None:
    done = run("chat", "hi", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("qwen-ls chat: ") and "OPENAI_API_KEY" in lines[0]
    assert done.stdout == ""


def test_chat_model_flag(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(text_stream("ok"))
    folder = project(tmp_path, f"OPENAI_BASE_URL={fake.base_url}\n")
    done = run("chat", "--model", "qwen2.5-coder:7b", "hi", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert fake.requests[-1].json["model"] == "qwen2.5-coder:7b"
    assert fake.requests[-1].header("authorization") is None, "loopback, no key"


def test_status_prints_sources_masked(tmp_path: Path) -> None:
    folder = project(
        tmp_path,
        "OPENAI_API_KEY=sk-test-SECRET0000\nOPENAI_BASE_URL=http://127.0.0.1:9/v1\n",
    )
    text = run("status", cwd=folder)
    as_json = run("status", str(folder), "--json", cwd=tmp_path)

    assert text.returncode == 0, text.stderr
    assert "SECRET" not in text.stdout + as_json.stdout
    assert str(folder / ".qwen" / ".env") in text.stdout
    result = json.loads(as_json.stdout)
    assert result["baseUrl"] == "http://127.0.0.1:9/v1"
    assert result["apiKey"].endswith("0000")
    assert result["signedIn"] is True


def test_help_and_version(tmp_path: Path) -> None:
    helped = run("--help", cwd=tmp_path)
    assert helped.returncode == 0
    for word in (
        "--stdio",
        "--tcp",
        "--clientProcessId",
        "--log-file",
        "status",
        "chat",
    ):
        assert word in helped.stdout
    version = run("--version", cwd=tmp_path)
    assert version.stdout.startswith("qwen-ls ")


def _slow_project(fake: FakeOpenAI, tmp_path: Path) -> Path:
    from tests.fakes.openai_server import slow_tokens

    fake.script(slow_tokens(400, 0.05))
    return project(tmp_path, f"OPENAI_BASE_URL={fake.base_url}\n")


def _chat_in_own_session(folder: Path) -> subprocess.Popen[bytes]:
    """`qwen-ls chat hello` in a process group of its own, as a terminal runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "qwen_ls", "chat", "hello"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_ctrl_c_cancels_the_chat_and_closes_the_stream(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    import os
    import signal
    import time

    folder = _slow_project(fake, tmp_path)
    chat = _chat_in_own_session(folder)
    try:
        assert chat.stdout is not None
        assert chat.stdout.read(8), "the answer started"
        os.killpg(chat.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        started = time.monotonic()
        _out, err = chat.communicate(timeout=15)
    finally:
        if chat.poll() is None:
            chat.kill()
    assert chat.returncode == 130
    assert err.decode().strip() == "qwen-ls chat: cancelled"
    assert fake.wait_for_disconnect(5)
    assert time.monotonic() - started < 5


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("wait", [0.0, 0.1, 0.2])
def test_ctrl_c_while_the_server_starts_ends_the_chat(
    fake: FakeOpenAI, tmp_path: Path, wait: float
) -> None:
    """Found by a new user: Ctrl-C before the chat request reached the server left
    `qwen-ls chat` waiting for good (the server never answered a request cancelled
    before it arrived)."""
    import signal

    folder = _slow_project(fake, tmp_path)
    chat = _chat_in_own_session(folder)
    try:
        deadline = time.monotonic() + 30
        while not (server := _children(chat.pid)) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert server, "the chat started its server"
        time.sleep(wait)
        os.killpg(chat.pid, signal.SIGINT)
        _out, err = chat.communicate(timeout=15)
    finally:
        if chat.poll() is None:
            chat.kill()
    assert chat.returncode == 130, err.decode()
    assert err.decode().strip() == "qwen-ls chat: cancelled"
    deadline = time.monotonic() + 10
    while Path(f"/proc/{server[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{server[0]}").exists(), "the server ended too"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("when", ["starting", "answering"])
def test_ctrl_c_ends_the_chat_even_when_its_server_hangs(
    fake: FakeOpenAI, tmp_path: Path, when: str
) -> None:
    """Found by a new user: with a server that did not answer (here: stopped),
    Ctrl-C waited for it for 35 s, and a second Ctrl-C did nothing."""
    import contextlib
    import signal

    folder = _slow_project(fake, tmp_path)
    chat = _chat_in_own_session(folder)
    server: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while not (server := _children(chat.pid)) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert server, "the chat started its server"
        if when == "answering":
            assert chat.stdout is not None
            assert chat.stdout.read(4), "the answer started"
        os.kill(server[0], signal.SIGSTOP)
        started = time.monotonic()
        os.killpg(chat.pid, signal.SIGINT)
        _out, err = chat.communicate(timeout=20)
        took = time.monotonic() - started
    finally:
        if chat.poll() is None:
            chat.kill()
        for pid in server:  # the chat's own server, stopped by this test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert chat.returncode == 130, err.decode()
    assert err.decode().strip().endswith("qwen-ls chat: cancelled")
    assert took < 10, f"{took:.1f} s"


def test_closed_pipe_stops_the_model(fake: FakeOpenAI, tmp_path: Path) -> None:
    folder = _slow_project(fake, tmp_path)
    chat = subprocess.Popen(
        [sys.executable, "-m", "qwen_ls", "chat", "hello"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert chat.stdout is not None
        assert chat.stdout.read(8)
        chat.stdout.close()  # `| head -c 8`
        assert fake.wait_for_disconnect(10), "the endpoint saw the stream end"
        assert chat.wait(timeout=15) == 0
        assert chat.stderr is not None and b"Traceback" not in chat.stderr.read()
    finally:
        if chat.poll() is None:
            chat.kill()


def test_the_last_write_to_a_reader_that_has_gone_is_no_error() -> None:
    """Found by a new user: when `| head` closed the pipe after the last piece of the
    answer, the final newline ended in a BrokenPipeError traceback (exit 120)."""
    code = (
        "import os, sys\n"
        "from qwen_ls import terminal_chat\n"
        "read, write = os.pipe()\n"
        "os.close(read)\n"
        "os.dup2(write, sys.stdout.fileno())\n"
        "sys.stderr.write(str(terminal_chat._write('the rest of the answer')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "False")


def test_file_outside_cwd_keeps_the_cwd_configuration(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.script(text_stream("ok"))
    folder = project(
        tmp_path, f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={fake.base_url}\n"
    )
    outside = tmp_path / "elsewhere.py"
    outside.write_text("print('outside')\n", encoding="utf-8")
    done = run("chat", "--file", str(outside), "explain", cwd=folder)
    assert done.returncode == 0, done.stderr
    sent = fake.requests[-1].json["messages"][-1]["content"]
    assert "print('outside')" in sent and sent.endswith("explain")


def test_chat_guard_without_a_terminal_refuses(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    folder = project(tmp_path, f"OPENAI_BASE_URL={fake.base_url}\n")
    done = subprocess.run(
        [sys.executable, "-m", "qwen_ls", "chat", "hi"],
        cwd=folder,
        env={**os.environ, "OPENAI_API_KEY": "sk-test-0000"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert (
        f"not sending your API key (the editor's environment) to 127.0.0.1:{fake.port}"
        in lines[0]
    )
    assert "this editor cannot ask" in lines[0]
    assert "qwen-ls-allowed-hosts.json" in lines[0]
    assert fake.requests == []


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_chat_guard_asks_in_a_terminal(fake: FakeOpenAI, tmp_path: Path) -> None:
    import pty

    fake.script(text_stream("ok"))
    folder = project(tmp_path, f"OPENAI_BASE_URL={fake.base_url}\n")
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "qwen_ls", "chat", "hi"],
        cwd=folder,
        env={**os.environ, "OPENAI_API_KEY": "sk-test-0000"},
        stdin=secondary,
        stderr=secondary,
        stdout=subprocess.PIPE,
        text=True,
    )
    os.close(secondary)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"choose a number" not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                seen += os.read(main, 4096)
        os.write(main, b"1\n")
        stdout, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    text = seen.decode()
    assert "Send your key to 127.0.0.1:" in text
    assert "1) Allow" in text and "2) Don't allow" in text
    assert process.returncode == 0
    assert stdout == "ok\n"
    assert fake.requests[-1].header("authorization") == "Bearer sk-test-0000"


def test_status_shows_the_pending_host_question(tmp_path: Path) -> None:
    folder = project(tmp_path, "OPENAI_BASE_URL=http://127.0.0.1:9/v1\n")
    done = subprocess.run(
        [sys.executable, "-m", "qwen_ls", "status", "--json"],
        cwd=folder,
        env={**os.environ, "OPENAI_API_KEY": "sk-test-0000"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["problems"] == [
        "the first chat will ask before sending your API key (the editor's "
        "environment) to 127.0.0.1:9, which OPENAI_BASE_URL in "
        f"{folder / '.qwen' / '.env'} chose"
    ]
