"""`qwen-ls login` and `qwen-ls logout` as subprocesses: Qwen OAuth against FakeOAuth
with the address printed for another device, API keys read from stdin only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.oauth_server import FakeOAuth, device_answer

KEY = "sk-test-CLI000000000"


@pytest.fixture
def oauth() -> Iterator[FakeOAuth]:
    with FakeOAuth(approve_after=2) as server:
        server.resource_url = "http://127.0.0.1:9"
        server.device(device_answer(interval=0.05))
        yield server


def run(
    *args: str,
    cwd: Path,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qwen_ls", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_login_with_qwen_oauth_prints_the_address_and_stores_credentials(
    oauth: FakeOAuth, tmp_path: Path, home: Path
) -> None:
    done = run(
        "login",
        "--method",
        "qwen-oauth",
        cwd=tmp_path,
        env={"QWEN_OAUTH_BASE_URL": oauth.base_url},
    )
    assert done.returncode == 0, done.stderr
    assert "https://chat.test/authorize?user_code=ABCD-1234" in done.stderr
    assert "ABCD-1234" in done.stderr
    assert done.stdout == "Signed in: qwen-oauth, model coder-model\n"
    creds = home / ".qwen" / "oauth_creds.json"
    assert json.loads(creds.read_text())["access_token"] == "at-test-0001"
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    assert "at-test" not in done.stdout + done.stderr


def test_login_with_a_key_from_stdin_then_logout(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    login = run(
        "login",
        "--method",
        "openai",
        "--api-key-stdin",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--scope",
        "user",
        cwd=folder,
        stdin=KEY + "\n",
    )
    assert login.returncode == 0, login.stderr
    assert login.stdout == "Signed in: openai, model qwen3-coder-plus\n"
    user_env = home / ".qwen" / ".env"
    assert f"OPENAI_API_KEY={KEY}\n" in user_env.read_text()
    assert stat.S_IMODE(os.stat(user_env).st_mode) == 0o600
    assert not (folder / ".qwen").exists()
    assert KEY not in login.stdout + login.stderr

    logout = run("logout", "--scope", "user", cwd=folder)
    assert logout.returncode == 0, logout.stderr
    assert logout.stdout == f"Removed OPENAI_API_KEY in {user_env}\n"
    assert "OPENAI_API_KEY" not in user_env.read_text()


def test_coding_plan_login_refuses_another_key_without_echoing_it(
    tmp_path: Path,
) -> None:
    done = run(
        "login", "--method", "coding-plan", "--api-key-stdin", cwd=tmp_path, stdin=KEY
    )
    assert done.returncode == 1
    assert "sk-sp-" in done.stderr and KEY not in done.stderr
    assert not (tmp_path / ".qwen").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["--method", "openai"], "--api-key-stdin", id="key-not-on-stdin"),
        pytest.param([], "--method", id="no-method-no-terminal"),
        pytest.param(["--method", "openai", "--api-key-stdin"], "no API key", id="empty-stdin"),
    ],
)  # fmt: skip
def test_login_refuses_what_it_cannot_do_without_a_terminal(
    tmp_path: Path, args: list[str], words: str
) -> None:
    done = run("login", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert words in done.stderr
    assert done.stderr.startswith("qwen-ls login: ")


def test_an_api_key_is_no_command_line_argument(tmp_path: Path) -> None:
    done = run("login", "--method", "openai", "--api-key", KEY, cwd=tmp_path)
    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr


def test_help_lists_login_and_logout(tmp_path: Path) -> None:
    helped = run("--help", cwd=tmp_path)
    assert "login [--cwd DIR]" in helped.stdout
    assert "logout [--cwd DIR]" in helped.stdout
    login_help = run("login", "--help", cwd=tmp_path)
    for flag in ("--method", "--api-key-stdin", "--scope", "--cwd", "--base-url"):
        assert flag in login_help.stdout
    logout_help = run("logout", "--help", cwd=tmp_path)
    assert "--scope" in logout_help.stdout


def test_status_shows_the_qwen_oauth_sign_in_without_the_token(
    tmp_path: Path, home: Path
) -> None:
    from tests.auth.conftest import write_cli_creds

    creds = write_cli_creds(home, access_token="at-test-SECRET1", expiry_date=1)
    done = run("status", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\nauth type  qwen-oauth " in done.stdout
    assert "https://portal.qwen.ai/v1" in done.stdout
    assert f"resource_url in {creds}" in done.stdout
    assert "a Qwen OAuth token, not shown" in done.stdout
    assert "SECRET1" not in done.stdout
