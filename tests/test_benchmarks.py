"""The benchmark keeps working: a smoke run with tiny sizes (`--quick`), and the
start-up stays free of the modules that only chats, sign-in or settings edits need."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ROWS = [
    "start: spawn to InitializeResult",
    "first delta: command to first partial result",
    "throughput: 1,000-token stream, no delay",
    "5 concurrent chats, 50 tokens each",
    "cancel: progress cancel to upstream closed",
    "memory: RSS after initialize",
    "memory: growth after 20 chats",
    "ready: spawn to first answer after initialized",
    "first delta, first chat after start",
]


def test_quick_run_measures_every_row() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads(done.stdout)
    assert report["repeat"] == 1
    assert report["machine"]["cores"] >= 1
    rows = {row["name"]: row for row in report["rows"]}
    assert sorted(rows) == sorted(ROWS)
    for row in rows.values():
        assert row["value"] > 0 or row["name"].startswith("memory: growth"), row
        assert row["passed"] in (True, False, None)
    # Targets whose outcome does not depend on the machine's load.
    assert rows["memory: growth after 20 chats"]["value"] < 5
    assert rows["cancel: progress cancel to upstream closed"]["value"] < 1000


def test_table_names_machine_rows_and_verdicts() -> None:
    from benchmarks.run import Report, Row, Sizes, format_table

    machine = {"cores": 2, "python": "CPython 3.11.7", "system": "Linux"}
    report = Report(
        {**machine, "load_start": 0.5, "load_end": 0.7},
        Sizes(repeat=5),
        [
            Row("start: spawn to InitializeResult", "ms", 300, 280, "ratio", 1.2),
            Row(
                "first delta: command to first partial result",
                "ms",
                9,
                1,
                "overhead",
                5,
            ),
            Row(
                "throughput: 20,000-token stream, no delay",
                "tokens/s",
                40_000,
                50_000,
                "ratio",
                0.8,
                higher_is_better=True,
            ),
            Row(
                "cancel: progress cancel to upstream closed",
                "ms",
                2.5,
                None,
                "value",
                50,
            ),
        ],
    )

    lines = format_table(report).splitlines()

    assert lines[0].startswith("qwen-ls benchmark: 2 cores, CPython 3.11.7")
    assert "load 0.5 to 0.7; medians of 5 runs (start and memory: 10," in lines[0]
    start = next(line for line in lines if line.startswith("start:"))
    assert start.split()[-4:] == ["ratio", "<=", "1.2", "PASS"]
    assert "ratio 1.07" in start
    first = next(line for line in lines if line.startswith("first delta:"))
    assert "overhead +8.00 ms" in first and first.endswith("FAIL")
    throughput = next(line for line in lines if line.startswith("throughput"))
    assert "40,000 tokens/s" in throughput and "ratio 0.80" in throughput
    assert throughput.endswith("PASS")


def test_starting_the_server_does_not_load_what_only_chats_need() -> None:
    code = (
        "import sys, qwen_ls.server; "
        "print(sorted(m for m in ('httpx', 'httpcore', 'certifi', 'json5', "
        "'pydantic', 'qwen_ls.config.resolve') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", (
        "import these where a chat, a sign-in or a settings edit needs them, not "
        "at start-up (server.py loads its features with load_on_first_use; see the "
        "start row of `python -m benchmarks`)"
    )


def test_the_status_sent_after_initialized_does_not_load_the_http_client(
    tmp_path: Path,
) -> None:
    """What `initialized` does (each folder's configuration and status, including
    the Qwen OAuth sign-in read from its file) needs no httpx: the `ready` row."""
    code = (
        "import sys\n"
        "from qwen_ls.server import QwenLanguageServer\n"
        "from qwen_ls.features.status import status_notification\n"
        f"ls = QwenLanguageServer(environ={{'HOME': {str(tmp_path)!r}}})\n"
        "cfg = ls.config_for(None)\n"
        "status_notification(cfg, None)\n"
        "print(cfg.oauth.problem, sorted(m for m in ('httpx', 'httpcore') "
        "if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "not signed in []"
