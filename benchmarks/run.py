"""The qwen-ls benchmark: each row measured beside its baseline in the same run.

qwen-ls runs as a real subprocess over stdio with default logging; the baselines are
a minimal pygls server (benchmarks/minimal_server.py) and plain httpx streaming reads
made in this process. Both talk to one fast local endpoint (benchmarks/endpoint.py)
in a process of its own. Values are medians over ``--repeat`` runs, pairs taken in
alternating order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx

from benchmarks.endpoint import answer, model_name
from benchmarks.lsp import LspProcess

HERE = Path(__file__).resolve().parent
API_KEY = "sk-bench-000000000000"
SYSTEM = "You are a benchmark."
PROMPT = "Say something."
CANCEL_STREAM = (100_000, 10)  # tokens, ms between tokens: runs until cancelled

T = TypeVar("T")

# What the conftest of the tests clears too: nothing on this machine reaches the
# servers, and no proxy is in the way of 127.0.0.1.
_CLEARED = re.compile(
    r"^(OPENAI_.*|QWEN_.*|DASHSCOPE_.*|BAILIAN_.*|.*_API_KEY|.*_TOKEN"
    r"|HTTPS?_PROXY|ALL_PROXY|NO_PROXY|SSL_CERT_.*|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE"
    r"|DEBUG|DEBUG_MODE|XDG_.*|PYTHONDONTWRITEBYTECODE)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Sizes:
    repeat: int = 5
    first_delta_tokens: int = 20
    throughput_tokens: int = 20_000
    concurrent_chats: int = 50
    concurrent_tokens: int = 500
    growth_chats: int = 1_000
    warmup_chats: int = 20

    # Short rows get more runs: a spawn, a first delta or a stream of a third of a
    # second is easily disturbed by other work on the machine.
    @property
    def start_runs(self) -> int:
        return 2 * self.repeat

    @property
    def throughput_runs(self) -> int:
        return 2 * self.repeat

    @property
    def first_delta_runs(self) -> int:
        return max(4 * self.repeat, 5)

    @property
    def cancel_runs(self) -> int:
        return max(self.repeat, 3)


QUICK = Sizes(
    repeat=1,
    throughput_tokens=1_000,
    concurrent_chats=5,
    concurrent_tokens=50,
    growth_chats=20,
    warmup_chats=3,
)


@dataclass
class Row:
    name: str
    unit: str
    value: float
    baseline: float | None
    compare: str  # "ratio", "overhead" or "value"
    limit: float | None  # None: shown for information only
    higher_is_better: bool = False
    note: str = ""  # printed under the table

    @property
    def measure(self) -> float:
        if self.compare == "ratio":
            assert self.baseline
            return self.value / self.baseline
        if self.compare == "overhead":
            assert self.baseline is not None
            return self.value - self.baseline
        return self.value

    @property
    def passed(self) -> bool | None:
        if self.limit is None:
            return None
        if self.higher_is_better:
            return self.measure >= self.limit
        return self.measure <= self.limit


@dataclass
class Report:
    machine: dict[str, Any]
    sizes: Sizes
    rows: list[Row] = field(default_factory=list)


async def alternate(
    first: Callable[[], Awaitable[T]], second: Callable[[], Awaitable[T]], times: int
) -> tuple[list[T], list[T]]:
    """Run both `times` times, in alternating order, so drift hits both alike."""
    a: list[T] = []
    b: list[T] = []
    for i in range(times):
        if i % 2 == 0:
            a.append(await first())
            b.append(await second())
        else:
            b.append(await second())
            a.append(await first())
    return a, b


@dataclass
class Timing:
    started: float
    first: float
    last: float

    @property
    def to_first(self) -> float:
        return self.first - self.started

    @property
    def to_last(self) -> float:
        return self.last - self.started


class Bench:
    """The endpoint, a workspace whose .qwen/.env points at it, and the clients."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url
        self.workspace = root / "project"
        self.home = root / "home"
        self.logs = root / "logs"
        for folder in (self.workspace / ".qwen", self.home, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        (self.workspace / ".qwen" / ".env").write_text(
            f"OPENAI_API_KEY={API_KEY}\nOPENAI_BASE_URL={base_url}\n"
        )
        self.env = {k: v for k, v in os.environ.items() if not _CLEARED.match(k)}
        # Bytecode as after `pip install` (this machine may forbid writing it), in
        # a cache of our own, for both servers alike.
        self.env.update(HOME=str(self.home), PYTHONPYCACHEPREFIX=str(root / "pyc"))
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0), trust_env=False)
        self._tokens = itertools.count(1)

    # The servers

    async def spawn_qwen(self) -> LspProcess:
        command = [sys.executable, "-m", "qwen_ls"]
        return await LspProcess.spawn(
            command, env=self.env, cwd=self.workspace, stderr=self.logs / "qwen-ls.log"
        )

    async def spawn_minimal(self) -> LspProcess:
        command = [sys.executable, str(HERE / "minimal_server.py")]
        return await LspProcess.spawn(
            command, env=self.env, cwd=self.workspace, stderr=self.logs / "minimal.log"
        )

    @contextlib.asynccontextmanager
    async def qwen_server(self) -> AsyncIterator[LspProcess]:
        lsp = await self.spawn_qwen()
        try:
            await lsp.initialize(self.workspace)
            yield lsp
        finally:
            await lsp.close()

    # One chat through qwen-ls, one plain read of the endpoint

    async def chat(self, lsp: LspProcess, tokens: int) -> Timing:
        token = f"p{next(self._tokens)}"
        parts: list[str] = []
        times: list[float] = []

        def on_progress(value: Any) -> None:
            delta = value.get("delta")
            if delta:
                times.append(time.perf_counter())
                parts.append(delta)

        lsp.progress[token] = on_progress
        args = {
            "prompt": PROMPT,
            "model": model_name(tokens),
            "partialResultToken": token,
        }
        started = time.perf_counter()
        try:
            result = await lsp.request(
                "workspace/executeCommand",
                {"command": "qwen.chat", "arguments": [args]},
            )
        finally:
            del lsp.progress[token]
        if not ("".join(parts) == result["text"] == answer(tokens)):
            raise AssertionError("qwen-ls lost or repeated a delta")
        return Timing(started, times[0], times[-1])

    def request_body(self, tokens: int) -> dict[str, Any]:
        return {
            "model": model_name(tokens),
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": PROMPT},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    async def plain_read(self, tokens: int) -> Timing:
        """The least a client does to get the tokens: read lines, decode the JSON."""
        started = time.perf_counter()
        times: list[float] = []
        async with self.http.stream(
            "POST",
            f"{self.base_url}/chat/completions",
            json=self.request_body(tokens),
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data:") or line.endswith("[DONE]"):
                    continue
                choices = json.loads(line[5:]).get("choices")
                if choices and choices[0]["delta"].get("content"):
                    times.append(time.perf_counter())
        if len(times) != tokens:
            raise AssertionError(f"plain read got {len(times)} of {tokens} tokens")
        return Timing(started, times[0], times[-1])

    async def early_closes(self) -> list[float]:
        response = await self.http.get(self.base_url.removesuffix("/v1") + "/stats")
        closes: list[float] = response.json()["early_closes"]
        return closes

    # The rows

    async def start_rows(self, sizes: Sizes) -> list[Row]:
        async def qwen() -> tuple[float, float, float, float]:
            started = time.perf_counter()
            lsp = await self.spawn_qwen()
            try:
                await lsp.initialize(self.workspace)
                took = time.perf_counter() - started
                await lsp.ping()
                ready = time.perf_counter() - started
                rss = lsp.rss_mb()
                cold = await self.chat(lsp, sizes.first_delta_tokens)
                return took, rss, cold.to_first, ready
            finally:
                await lsp.close()

        async def minimal() -> tuple[float, float, float, float]:
            started = time.perf_counter()
            lsp = await self.spawn_minimal()
            try:
                await lsp.initialize(self.workspace)
                took = time.perf_counter() - started
                await lsp.ping()
                ready = time.perf_counter() - started
                return took, lsp.rss_mb(), 0.0, ready
            finally:
                await lsp.close()

        await qwen()  # fills the bytecode cache and the disk cache, unmeasured
        await minimal()
        ours, base = await alternate(qwen, minimal, sizes.start_runs)
        return [
            Row(
                "start: spawn to InitializeResult",
                "ms",
                statistics.median([o[0] for o in ours]) * 1000,
                statistics.median([b[0] for b in base]) * 1000,
                "ratio",
                1.2,
            ),
            Row(
                "memory: RSS after initialize",
                "MB",
                statistics.median([o[1] for o in ours]),
                statistics.median([b[1] for b in base]),
                "ratio",
                1.5,
            ),
            Row(
                "ready: spawn to first answer after initialized",
                "ms",
                statistics.median([o[3] for o in ours]) * 1000,
                statistics.median([b[3] for b in base]) * 1000,
                "ratio",
                None,
                note=(
                    "ready: includes what `initialized` does before the next answer "
                    "(each folder's configuration, for qwen/status)"
                ),
            ),
            Row(
                "first delta, first chat after start",
                "ms",
                statistics.median([o[2] for o in ours]) * 1000,
                None,
                "value",
                None,
                note="first chat after start: includes loading the HTTP client",
            ),
        ]

    async def warm_up(self, lsp: LspProcess, sizes: Sizes) -> None:
        """Build the endpoint's streams and fill both connection pools."""
        for tokens in (
            sizes.first_delta_tokens,
            sizes.throughput_tokens,
            sizes.concurrent_tokens,
        ):
            await self.plain_read(tokens)
            await self.chat(lsp, tokens)
        for _ in range(sizes.warmup_chats):
            await self.chat(lsp, sizes.first_delta_tokens)
        await asyncio.gather(
            *(self.plain_read(1) for _ in range(sizes.concurrent_chats)),
            *(self.chat(lsp, 1) for _ in range(sizes.concurrent_chats)),
        )

    async def first_delta_row(self, lsp: LspProcess, sizes: Sizes) -> Row:
        n = sizes.first_delta_tokens
        ours, base = await alternate(
            lambda: self.chat(lsp, n),
            lambda: self.plain_read(n),
            sizes.first_delta_runs,
        )
        return Row(
            "first delta: command to first partial result",
            "ms",
            statistics.median([t.to_first for t in ours]) * 1000,
            statistics.median([t.to_first for t in base]) * 1000,
            "overhead",
            5.0,
        )

    async def throughput_row(self, lsp: LspProcess, sizes: Sizes) -> Row:
        n = sizes.throughput_tokens
        ours, base = await alternate(
            lambda: self.chat(lsp, n), lambda: self.plain_read(n), sizes.throughput_runs
        )
        return Row(
            f"throughput: {n:,}-token stream, no delay",
            "tokens/s",
            n / statistics.median([t.to_last for t in ours]),
            n / statistics.median([t.to_last for t in base]),
            "ratio",
            0.8,
            higher_is_better=True,
        )

    async def concurrency_row(self, lsp: LspProcess, sizes: Sizes) -> Row:
        count, n = sizes.concurrent_chats, sizes.concurrent_tokens

        async def wall(make: Callable[[], Awaitable[Timing]]) -> float:
            started = time.perf_counter()
            await asyncio.gather(*(make() for _ in range(count)))
            return time.perf_counter() - started

        ours, base = await alternate(
            lambda: wall(lambda: self.chat(lsp, n)),
            lambda: wall(lambda: self.plain_read(n)),
            sizes.repeat,
        )
        return Row(
            f"{count} concurrent chats, {n} tokens each",
            "wall s",
            statistics.median(ours),
            statistics.median(base),
            "ratio",
            1.5,
        )

    async def cancel_row(self, lsp: LspProcess, sizes: Sizes) -> Row:
        async def once() -> float:
            seen = len(await self.early_closes())
            token, work = f"p{next(self._tokens)}", f"w{next(self._tokens)}"
            first = asyncio.get_running_loop().create_future()

            def on_progress(value: Any) -> None:
                if value.get("delta") and not first.done():
                    first.set_result(None)

            lsp.progress[token] = on_progress
            args = {
                "prompt": PROMPT,
                "model": model_name(*CANCEL_STREAM),
                "partialResultToken": token,
            }
            answer = lsp.request_future(
                "workspace/executeCommand",
                {"command": "qwen.chat", "arguments": [args], "workDoneToken": work},
            )
            await asyncio.wait_for(first, 10)
            cancelled_at = time.monotonic()
            lsp.notify("window/workDoneProgress/cancel", {"token": work})
            result = await asyncio.wait_for(answer, 10)
            del lsp.progress[token]
            if result["finishReason"] != "cancelled":
                raise AssertionError(f"cancel answered {result['finishReason']}")
            deadline = time.monotonic() + 5
            while len(closes := await self.early_closes()) <= seen:
                if time.monotonic() > deadline:
                    raise AssertionError("the upstream connection stayed open")
                await asyncio.sleep(0.005)
            return closes[-1] - cancelled_at

        times = [await once() for _ in range(sizes.cancel_runs)]
        return Row(
            "cancel: progress cancel to upstream closed",
            "ms",
            statistics.median(times) * 1000,
            None,
            "value",
            50.0,
        )

    async def growth_row(self, sizes: Sizes) -> Row:
        async with self.qwen_server() as lsp:
            for _ in range(sizes.warmup_chats):
                await self.chat(lsp, sizes.first_delta_tokens)
            before = lsp.rss_mb()
            for _ in range(sizes.growth_chats):
                await self.chat(lsp, sizes.first_delta_tokens)
            ours = lsp.rss_mb() - before

        lsp = await self.spawn_minimal()
        try:
            await lsp.initialize(self.workspace)
            noop = {"command": "minimal.noop", "arguments": []}
            for _ in range(sizes.warmup_chats):
                await lsp.request("workspace/executeCommand", noop)
            before = lsp.rss_mb()
            for _ in range(sizes.growth_chats):
                await lsp.request("workspace/executeCommand", noop)
            base = lsp.rss_mb() - before
        finally:
            await lsp.close()
        return Row(
            f"memory: growth after {sizes.growth_chats:,} chats",
            "MB",
            ours,
            base,
            "value",
            5.0,
            note=f"growth: RSS after the chats minus RSS after {sizes.warmup_chats} "
            "warm-up chats; baseline: as many no-op commands to the minimal server",
        )


@contextlib.asynccontextmanager
async def endpoint() -> AsyncIterator[str]:
    """The fast endpoint in its own process; yields its base URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.endpoint",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=HERE.parent,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line:
            raise RuntimeError("the benchmark endpoint did not start")
        yield line.decode().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": f"{platform.system()} {platform.release()}",
        "load_start": round(os.getloadavg()[0], 2),
    }


async def run(sizes: Sizes, progress: Callable[[str], None]) -> Report:
    report = Report(machine(), sizes)
    with tempfile.TemporaryDirectory(prefix="qwen-ls-bench-") as tmp:
        async with endpoint() as base_url:
            bench = Bench(Path(tmp), base_url)
            try:
                progress("start and memory")
                report.rows += await bench.start_rows(sizes)
                async with bench.qwen_server() as lsp:
                    progress("warm-up")
                    await bench.warm_up(lsp, sizes)
                    progress("first delta")
                    report.rows.append(await bench.first_delta_row(lsp, sizes))
                    progress("throughput")
                    report.rows.append(await bench.throughput_row(lsp, sizes))
                    progress("concurrency")
                    report.rows.append(await bench.concurrency_row(lsp, sizes))
                    progress("cancel")
                    report.rows.append(await bench.cancel_row(lsp, sizes))
                progress("memory growth")
                report.rows.append(await bench.growth_row(sizes))
            except BaseException:
                for log in sorted(bench.logs.glob("*.log")):
                    tail = log.read_text(errors="replace")[-3000:]
                    if tail.strip():
                        print(f"--- {log.name} (end) ---\n{tail}", file=sys.stderr)
                raise
            finally:
                await bench.http.aclose()
    report.machine["load_end"] = round(os.getloadavg()[0], 2)
    return report


ORDER = [
    "start:",
    "first delta:",
    "throughput",
    "concurrent",
    "cancel",
    "RSS",
    "growth",
    "ready:",
    "first chat",
]


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "tokens/s":
        return f"{value:,.0f} {unit}"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f} {unit}"


def _compare(row: Row) -> str:
    if row.compare == "ratio":
        return f"ratio {row.measure:.2f}"
    if row.compare == "overhead":
        return f"overhead {row.measure:+.2f} ms"
    return "-"


def _target(row: Row) -> str:
    if row.limit is None:
        return "(info)"
    sign = ">=" if row.higher_is_better else "<="
    if row.compare == "ratio":
        return f"ratio {sign} {row.limit:g}"
    if row.compare == "overhead":
        return f"overhead {sign} {row.limit:g} ms"
    return f"{sign} {row.limit:g} {row.unit}"


def format_table(report: Report) -> str:
    m, sizes = report.machine, report.sizes
    rows = sorted(
        report.rows,
        key=lambda r: next(i for i, p in enumerate(ORDER) if p in r.name),
    )
    table = [("row", "qwen-ls", "baseline", "compared", "target", "result")]
    for row in rows:
        verdict = {True: "PASS", False: "FAIL", None: "-"}[row.passed]
        table.append(
            (
                row.name,
                _number(row.value, row.unit),
                _number(row.baseline, row.unit),
                _compare(row),
                _target(row),
                verdict,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = [
        f"qwen-ls benchmark: {m['cores']} cores, {m['python']}, {m['system']}, "
        f"load {m['load_start']} to {m['load_end']}; medians of {sizes.repeat} runs "
        f"(start and memory: {sizes.start_runs}, first delta: "
        f"{sizes.first_delta_runs}, throughput: {sizes.throughput_runs}, cancel: "
        f"{sizes.cancel_runs}, growth: 1)",
    ]
    for i, r in enumerate(table):
        cells = (c.ljust(w) for c, w in zip(r, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(
        "baselines: start and memory, a minimal pygls server "
        "(benchmarks/minimal_server.py); streaming rows, plain httpx reads in the "
        "benchmark process (aiter_lines + json.loads)"
    )
    lines += [row.note for row in rows if row.note]
    return "\n".join(lines)


def to_json(report: Report) -> str:
    rows = []
    for row in report.rows:
        data = asdict(row)
        data.update(measure=row.measure, passed=row.passed)
        rows.append(data)
    return json.dumps(
        {
            "machine": report.machine,
            "repeat": report.sizes.repeat,
            "sizes": asdict(report.sizes),
            "rows": rows,
        },
        indent=2,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure qwen-ls beside its baselines and print one table.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one run (a smoke test)"
    )
    parser.add_argument("--repeat", type=int, help="runs per row (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead")
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else Sizes()
    if args.repeat is not None:
        if args.repeat < 1:
            parser.error("--repeat must be at least 1")
        sizes = replace(sizes, repeat=args.repeat)

    def progress(step: str) -> None:
        print(f"... {step}", file=sys.stderr, flush=True)

    report = asyncio.run(run(sizes, progress))
    print(to_json(report) if args.json else format_table(report))
    return 0
