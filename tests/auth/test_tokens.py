"""TokenManager: valid tokens on demand, one refresh at a time in a process and across
processes sharing ~/.qwen (the CLI's lock file), and no lost sign-ins."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from qwen_ls.auth import (
    CredentialStore,
    OAuthCredentials,
    OAuthError,
    QwenOAuth,
    TokenManager,
)
from tests.auth.conftest import now_ms, read_creds, write_cli_creds
from tests.fakes.oauth_server import (
    Answer,
    FakeOAuth,
    OAuthRequest,
    html,
    json_answer,
    oauth_error,
    tokens,
)

REPO = Path(__file__).resolve().parents[2]
HOUR_MS = 3_600_000


def manager(home: Path, http: httpx.AsyncClient, fake: FakeOAuth) -> TokenManager:
    return TokenManager(CredentialStore(home), lambda: QwenOAuth(http, fake.base_url))


async def test_valid_token_is_used_without_request_or_rereading(
    home: Path,
    http: httpx.AsyncClient,
    fake: FakeOAuth,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_cli_creds(home, expiry_date=now_ms() + HOUR_MS)
    tokens_ = manager(home, http, fake)
    loads: list[int] = []
    original = CredentialStore.load

    def counting_load(self: CredentialStore) -> OAuthCredentials | None:
        loads.append(1)
        return original(self)

    monkeypatch.setattr(CredentialStore, "load", counting_load)

    for _ in range(3):
        assert (await tokens_.access()).access_token == "at-test-0001"
    assert len(loads) == 1

    write_cli_creds(home, access_token="at-test-0009", expiry_date=now_ms() + HOUR_MS)
    assert (await tokens_.access()).access_token == "at-test-0009"
    assert len(loads) == 2
    assert fake.requests == []


async def test_expired_token_is_refreshed_and_saved(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    write_cli_creds(home)
    fake.rotate()
    before = now_ms()

    creds = await manager(home, http, fake).access()

    assert creds.access_token == "at-test-0002"
    on_disk = read_creds(home)
    assert on_disk["access_token"] == "at-test-0002"
    assert on_disk["refresh_token"] == "rt-test-0002"
    assert before + 21_600_000 <= on_disk["expiry_date"] <= now_ms() + 21_600_000
    assert not (home / ".qwen" / "oauth_creds.lock").exists()


async def test_token_expiring_within_30_s_is_refreshed(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    write_cli_creds(home, expiry_date=now_ms() + 29_000)
    fake.rotate()
    assert (await manager(home, http, fake).access()).access_token == "at-test-0002"


@pytest.mark.parametrize("skew_hours", [3, -3])
async def test_B31_skewed_clock_does_not_cause_refresh_storms(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth, skew_hours: int
) -> None:
    skewed = now_ms() + skew_hours * HOUR_MS
    write_cli_creds(home, expiry_date=skewed - 1000)
    fake.rotate()
    tokens_ = TokenManager(
        CredentialStore(home),
        lambda: QwenOAuth(http, fake.base_url),
        now_ms=lambda: skewed,
    )

    first = await tokens_.access()
    second = await tokens_.access()

    assert first.expiry_date == pytest.approx(skewed + 21_600_000, abs=5000)
    assert second.access_token == first.access_token
    assert len(fake.token_requests("refresh_token")) == 1


async def test_B27_five_concurrent_callers_share_one_refresh(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    write_cli_creds(home)
    fake.rotate()
    fake.refresh_delay = 0.2
    tokens_ = manager(home, http, fake)

    results = await asyncio.gather(*(tokens_.access() for _ in range(5)))

    assert {creds.access_token for creds in results} == {"at-test-0002"}
    assert len(fake.token_requests("refresh_token")) == 1


async def test_B27_refreshed_by_another_process_while_waiting_for_the_lock(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    write_cli_creds(home)
    store = CredentialStore(home)
    store.dir.mkdir(exist_ok=True)
    store.lock_path.write_text("cli-process")

    def cli_finishes() -> None:
        write_cli_creds(
            home, access_token="at-test-0002", expiry_date=now_ms() + HOUR_MS
        )
        store.lock_path.unlink()

    asyncio.get_running_loop().call_later(0.2, cli_finishes)
    creds = await manager(home, http, fake).access()

    assert creds.access_token == "at-test-0002"
    assert fake.requests == []


REFRESHER = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from pathlib import Path
    import httpx
    from qwen_ls.auth import CredentialStore, QwenOAuth, TokenManager

    home, base, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    async def main():
        while not go.exists():
            await asyncio.sleep(0.002)
        async with httpx.AsyncClient(trust_env=False) as http:
            tokens = TokenManager(CredentialStore(home), lambda: QwenOAuth(http, base))
            creds = await tokens.access()
        print(json.dumps({"access": creds.access_token}))

    asyncio.run(main())
    """
)

CLI_IMITATOR = textwrap.dedent(
    """
    import json, os, sys, time, uuid
    from pathlib import Path
    import httpx

    home, go = Path(sys.argv[1]), Path(sys.argv[3])
    base, mode = sys.argv[2], sys.argv[4]
    lock = home / ".qwen" / "oauth_creds.lock"
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, str(uuid.uuid4()).encode())
    os.close(fd)
    print("locked", flush=True)
    while not go.exists():
        time.sleep(0.002)
    time.sleep(0.5)
    if mode == "refresh":
        answer = httpx.post(
            base + "/api/v1/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": "rt-test-0001",
                  "client_id": "f0304373b74a44d2b584a3fb70ca9e56"},
            trust_env=False,
        ).json()
        path = home / ".qwen" / "oauth_creds.json"
        tmp = path.with_name("oauth_creds.json.tmp.cli")
        tmp.write_text(json.dumps({
            "access_token": answer["access_token"],
            "refresh_token": answer["refresh_token"],
            "token_type": "Bearer",
            "resource_url": answer["resource_url"],
            "expiry_date": int(time.time() * 1000) + answer["expires_in"] * 1000,
        }, indent=2))
        os.replace(tmp, path)
    os.unlink(lock)
    """
)


@pytest.mark.parametrize("cli", ["holds-lock", "refreshes"])
def test_B27_two_processes_refresh_once(
    home: Path, fake: FakeOAuth, tmp_path: Path, cli: str
) -> None:
    write_cli_creds(home)
    fake.rotate("rt-test-0001")
    fake.refresh_delay = 0.2
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [str(home), fake.base_url, str(go)]

    imitator = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI_IMITATOR,
            *args,
            "refresh" if cli == "refreshes" else "hold",
        ],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    servers: list[subprocess.Popen[str]] = []
    try:
        assert imitator.stdout is not None
        assert imitator.stdout.readline().strip() == "locked"
        servers = [
            subprocess.Popen(
                [sys.executable, "-c", REFRESHER, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
            )
            for _ in range(2)
        ]
        time.sleep(0.3)  # let both servers import and wait for the same instant
        go.touch()
        outputs = [server.communicate(timeout=30) for server in servers]
        assert imitator.wait(timeout=30) == 0
    finally:
        for process in [imitator, *servers]:
            if process.poll() is None:
                process.kill()
                process.wait()

    for (out, err), server in zip(outputs, servers, strict=True):
        assert server.returncode == 0, err
        assert json.loads(out) == {"access": "at-test-0002"}
    assert len(fake.token_requests("refresh_token")) == 1
    assert read_creds(home)["access_token"] == "at-test-0002"
    assert read_creds(home)["refresh_token"] == "rt-test-0002"
    assert sorted(p.name for p in (home / ".qwen").iterdir()) == ["oauth_creds.json"]


async def test_B32_rejected_token_is_refreshed_once(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    write_cli_creds(home, expiry_date=now_ms() + 5 * HOUR_MS)
    fake.rotate()
    tokens_ = manager(home, http, fake)
    assert (await tokens_.access()).access_token == "at-test-0001"

    first, second = await asyncio.gather(
        tokens_.access(force_refresh=True, rejected_token="at-test-0001"),
        tokens_.access(force_refresh=True, rejected_token="at-test-0001"),
    )
    late = await tokens_.access(force_refresh=True, rejected_token="at-test-0001")

    assert (
        first.access_token == second.access_token == late.access_token == "at-test-0002"
    )
    assert len(fake.token_requests("refresh_token")) == 1


async def test_B32_refresh_rejected_signs_out_without_loop(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    path = write_cli_creds(home, expiry_date=now_ms() + 5 * HOUR_MS)
    fake.refresh(oauth_error("invalid_grant"))
    tokens_ = manager(home, http, fake)

    with pytest.raises(OAuthError) as caught:
        await tokens_.access(force_refresh=True, rejected_token="at-test-0001")

    assert caught.value.kind == "signedOut"
    assert str(caught.value) == "Qwen OAuth sign-in expired; sign in again"
    assert not path.exists()
    with pytest.raises(OAuthError) as again:
        await tokens_.access()
    assert again.value.kind == "signedOut"
    assert str(again.value) == (
        "not signed in to Qwen OAuth; run the qwen.auth command to sign in"
    )
    assert len(fake.token_requests("refresh_token")) == 1


async def test_B27_refused_refresh_retries_once_with_a_newer_refresh_token(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    """A process that ignores the lock rotated the token under us."""
    write_cli_creds(home)

    def rotated_meanwhile(request: OAuthRequest) -> Answer:
        write_cli_creds(home, access_token="at-test-0005", refresh_token="rt-test-0005")
        return oauth_error("invalid_grant")

    fake.refresh(
        rotated_meanwhile, tokens(access="at-test-0006", refresh="rt-test-0006")
    )

    creds = await manager(home, http, fake).access()

    assert creds.access_token == "at-test-0006"
    sent = [r.form["refresh_token"] for r in fake.token_requests("refresh_token")]
    assert sent == ["rt-test-0001", "rt-test-0005"]
    assert read_creds(home)["refresh_token"] == "rt-test-0006"


async def test_B27_refused_refresh_uses_valid_newer_credentials_without_request(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    write_cli_creds(home)

    def refreshed_meanwhile(request: OAuthRequest) -> Answer:
        write_cli_creds(
            home,
            access_token="at-test-0005",
            refresh_token="rt-test-0005",
            expiry_date=now_ms() + HOUR_MS,
        )
        return oauth_error("invalid_grant")

    fake.refresh(refreshed_meanwhile)

    assert (await manager(home, http, fake).access()).access_token == "at-test-0005"
    assert len(fake.token_requests("refresh_token")) == 1


async def test_B27_never_deletes_credentials_newer_than_the_refused_ones(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    write_cli_creds(home)

    def newer(serial: int) -> Answer:
        write_cli_creds(
            home,
            access_token=f"at-test-000{serial}",
            refresh_token=f"rt-test-000{serial}",
        )
        return oauth_error("invalid_grant")

    fake.refresh(lambda _: newer(5), lambda _: newer(7))

    with pytest.raises(OAuthError) as caught:
        await manager(home, http, fake).access()

    assert caught.value.kind == "signedOut"
    assert read_creds(home)["refresh_token"] == "rt-test-0007"
    assert len(fake.token_requests("refresh_token")) == 2  # one retry, no loop


async def test_refresh_without_resource_url_keeps_the_stored_one(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    write_cli_creds(home, resource_url="portal.qwen.ai", id_token="x")
    fake.refresh(tokens(access="at-test-0002", refresh=None, resource_url=None))

    creds = await manager(home, http, fake).access()

    assert creds.base_url() == "https://portal.qwen.ai/v1"
    on_disk = read_creds(home)
    assert on_disk["resource_url"] == "portal.qwen.ai"
    assert on_disk["refresh_token"] == "rt-test-0001"
    assert on_disk["id_token"] == "x"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(html(502), id="502-html"),
        pytest.param(html(200, "proxy login"), id="200-html"),
        pytest.param(json_answer({"error": "server_error"}, 500), id="500-json"),
    ],
)
async def test_refresh_server_error_keeps_credentials(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth, answer: Answer
) -> None:
    path = write_cli_creds(home)
    before = path.read_bytes()
    fake.refresh(answer)

    with pytest.raises(OAuthError) as caught:
        await manager(home, http, fake).access()

    assert caught.value.kind == "server"
    assert path.read_bytes() == before


async def test_B33_discontinued_refresh_keeps_credentials(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    path = write_cli_creds(home)
    fake.refresh(
        json_answer(
            {"error": "Qwen OAuth free tier was discontinued on 2026-04-15"}, 401
        )
    )
    with pytest.raises(OAuthError) as caught:
        await manager(home, http, fake).access()
    assert caught.value.kind == "discontinued"
    assert path.exists()


async def test_not_signed_in_and_invalid_file(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    tokens_ = manager(home, http, fake)
    with pytest.raises(OAuthError, match="not signed in to Qwen OAuth"):
        await tokens_.access()

    path = home / ".qwen" / "oauth_creds.json"
    path.parent.mkdir()
    path.write_text("{")
    with pytest.raises(OAuthError) as caught:
        await tokens_.access()
    assert caught.value.kind == "signedOut"
    assert str(caught.value) == (
        f"{path} is not valid (invalid JSON at line 1 column 2); sign in again"
    )
    assert tokens_.problem == str(caught.value)
    assert path.read_text() == "{"


async def test_B23b_memory_only_credentials(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    (home / ".qwen").write_text("not a directory")
    fake.rotate()
    tokens_ = manager(home, http, fake)
    expired = OAuthCredentials(
        access_token="at-test-0001", refresh_token="rt-test-0001", expiry_date=now_ms()
    )
    tokens_.remember(expired)

    creds = await tokens_.access()

    assert creds.access_token == "at-test-0002"
    assert tokens_.problem is not None and "stay in memory" in tokens_.problem
    assert (await tokens_.access()).access_token == "at-test-0002"
    assert len(fake.token_requests("refresh_token")) == 1

    tokens_.forget()
    with pytest.raises(OAuthError, match="not signed in"):
        await tokens_.access()


async def test_lock_held_for_ever_is_reported(
    home: Path, http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    write_cli_creds(home)
    store = CredentialStore(home)
    store.lock_attempts = 2
    store.lock_path.write_text("stuck")
    tokens_ = TokenManager(store, lambda: QwenOAuth(http, fake.base_url))

    with pytest.raises(OAuthError) as caught:
        await tokens_.access()

    assert caught.value.kind == "server"
    assert "oauth_creds.lock is held by another process" in str(caught.value)
    assert fake.requests == []
