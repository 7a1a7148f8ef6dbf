"""The credentials file shared with the Qwen Code CLI and its lock file protocol."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import stat
import time
from pathlib import Path

import pytest

from qwen_ls.auth import (
    CredentialsNotSaved,
    CredentialStore,
    LockTimeout,
    OAuthCredentials,
    TokenResponse,
    credentials_from_token,
)
from qwen_ls.log import redact
from tests.auth.conftest import write_cli_creds

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

B30_FILE = {
    "access_token": "at-test-0001",
    "refresh_token": "rt-test-0001",
    "token_type": "Bearer",
    "expiry_date": 1893456000000,
    "resource_url": "portal.qwen.ai",
    "id_token": "x",
    "future_field": {"a": 1},
}


def creds(**fields: object) -> OAuthCredentials:
    data: dict[str, object] = {
        "access_token": "at-test-0001",
        "refresh_token": "rt-test-0001",
        "token_type": "Bearer",
        "resource_url": "portal.qwen.ai",
        "expiry_date": 1893456000000,
    }
    data.update(fields)
    return OAuthCredentials.model_validate(data)


def token(**fields: object) -> TokenResponse:
    data: dict[str, object] = {
        "access_token": "at-test-0002",
        "refresh_token": "rt-test-0002",
        "token_type": "Bearer",
        "expires_in": 21600.0,
        "resource_url": "portal.qwen.ai",
        "raw": {},
    }
    data.update(fields)
    return TokenResponse(**data)  # type: ignore[arg-type]


# -- the format --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_url", "base_url"),
    [
        pytest.param("portal.qwen.ai", "https://portal.qwen.ai/v1", id="B30-1-host"),
        pytest.param(
            "https://dashscope.aliyuncs.com/compatible-mode",
            "https://dashscope.aliyuncs.com/compatible-mode/v1",
            id="B30-2-scheme-and-path",
        ),
        pytest.param(
            None, "https://dashscope.aliyuncs.com/compatible-mode/v1", id="B30-3-absent"
        ),
        pytest.param(
            "", "https://dashscope.aliyuncs.com/compatible-mode/v1", id="empty"
        ),
        pytest.param(
            "custom-endpoint.com", "https://custom-endpoint.com/v1", id="cli-1"
        ),
        pytest.param("http://localhost:8080", "http://localhost:8080/v1", id="cli-2"),
        pytest.param(
            "api.example.com/api/v2", "https://api.example.com/api/v2/v1", id="cli-3"
        ),
        pytest.param(
            "https://api.example.com/api/v1",
            "https://api.example.com/api/v1",
            id="cli-4",
        ),
        pytest.param(
            "HTTPS://portal.qwen.ai/v1/", "HTTPS://portal.qwen.ai/v1", id="slash"
        ),
    ],
)
def test_B30_base_url_from_resource_url(
    resource_url: str | None, base_url: str
) -> None:
    assert creds(resource_url=resource_url).base_url() == base_url


def test_B30_cli_file_is_read_with_expiry_in_milliseconds(home: Path) -> None:
    path = home / ".qwen" / "oauth_creds.json"
    path.parent.mkdir()
    path.write_text(json.dumps(B30_FILE))

    loaded = CredentialStore(home).load()

    assert loaded is not None
    assert loaded.base_url() == "https://portal.qwen.ai/v1"
    expiry = datetime.datetime.fromtimestamp(
        loaded.expiry_date / 1000, datetime.timezone.utc
    )
    assert expiry.year == 2030
    assert not loaded.expires_within(30)
    assert loaded.expires_within(30, now_ms=1893456000000 - 29_000)
    assert not loaded.expires_within(30, now_ms=1893456000000 - 31_000)


def test_B30_rewrite_keeps_unknown_fields_in_readable_order(home: Path) -> None:
    store = CredentialStore(home)
    store.save(OAuthCredentials.model_validate(B30_FILE))

    text = store.path.read_text()

    assert list(json.loads(text)) == [
        "access_token",
        "refresh_token",
        "token_type",
        "resource_url",
        "expiry_date",
        "id_token",
        "future_field",
    ]
    assert json.loads(text) == B30_FILE
    assert text == json.dumps(json.loads(text), indent=2)  # the CLI's layout


def test_loaded_tokens_are_redacted_from_logs(home: Path) -> None:
    write_cli_creds(home, access_token="at-redact-me-0001")
    assert CredentialStore(home).load() is not None
    assert redact("token at-redact-me-0001 rejected") == "token *** rejected"


def test_repr_shows_no_token() -> None:
    text = repr(creds(id_token="secret-id-token")) + str(creds())
    assert "at-test" not in text and "rt-test" not in text and "secret-id" not in text


def test_B31_expiry_is_local_receipt_time_plus_expires_in() -> None:
    now = 1_700_000_000_000
    new = credentials_from_token(token(expires_in=21600.0), previous=None, now_ms=now)
    assert new.expiry_date == now + 21_600_000
    assert not new.expires_within(60, now_ms=now)


def test_credentials_from_token_keeps_what_the_answer_omits() -> None:
    old = creds(resource_url="portal.qwen.ai", id_token="x", future_field={"a": 1})
    new = credentials_from_token(
        token(refresh_token=None, resource_url=None), previous=old, now_ms=0
    )
    assert new.refresh_token == "rt-test-0001"
    assert new.resource_url == "portal.qwen.ai"
    assert new.model_extra == {"id_token": "x", "future_field": {"a": 1}}
    assert new.access_token == "at-test-0002"

    fresh = credentials_from_token(token(expires_in=None), previous=None, now_ms=0)
    assert fresh.expiry_date == 3_600_000
    assert fresh.model_extra == {}


def test_utf8_bom_file_is_read_and_left_unchanged(home: Path) -> None:
    path = home / ".qwen" / "oauth_creds.json"
    path.parent.mkdir()
    data = b"\xef\xbb\xbf" + json.dumps(B30_FILE).encode()
    path.write_bytes(data)

    assert CredentialStore(home).load() is not None
    assert path.read_bytes() == data


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(
            b'{"access_token": "at-test-0001", "refr', "invalid JSON", id="cut"
        ),
        pytest.param(b"[]", "not a JSON object", id="array"),
        pytest.param(b"\xff\xfe{}", "not UTF-8 text", id="binary"),
        pytest.param(
            b'{"access_token": "at-test-0001", "expiry_date": "soon"}',
            "missing or wrong expiry_date",
            id="wrong-type",
        ),
        pytest.param(
            b'{"refresh_token": "rt-test-0001", "expiry_date": 1}',
            "missing or wrong access_token",
            id="no-access-token",
        ),
    ],
)
def test_invalid_file_is_reported_and_never_touched(
    home: Path, content: bytes, reason: str
) -> None:
    path = home / ".qwen" / "oauth_creds.json"
    path.parent.mkdir()
    path.write_bytes(content)
    store = CredentialStore(home)

    assert store.load() is None

    assert store.problem is not None
    assert store.problem.startswith(f"{path} is not valid ({reason}")
    assert store.problem.endswith("; sign in again")
    assert "at-test" not in store.problem and "rt-test" not in store.problem
    assert path.read_bytes() == content


def test_missing_file_is_no_problem(home: Path) -> None:
    store = CredentialStore(home)
    assert store.load() is None
    assert store.problem is None


def test_directory_in_place_of_the_file(home: Path) -> None:
    (home / ".qwen" / "oauth_creds.json").mkdir(parents=True)
    store = CredentialStore(home)
    assert store.load() is None
    assert store.problem == f"{store.path} is a directory, not a file; sign in again"


@pytest.mark.skipif(AS_ROOT, reason="root reads files whatever their mode")
def test_B23_unreadable_file_is_reported(home: Path) -> None:
    path = write_cli_creds(home)
    path.chmod(0)
    store = CredentialStore(home)
    assert store.load() is None
    assert (
        store.problem
        == f"cannot read {path}: permission denied (check owner/permissions)"
    )


# -- writing -----------------------------------------------------------------------


def test_save_creates_private_dir_and_file_atomically(home: Path) -> None:
    store = CredentialStore(home)
    store.save(creds())

    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    assert sorted(p.name for p in store.dir.iterdir()) == ["oauth_creds.json"]
    assert store.load() == creds()


def test_save_tightens_a_cli_file_written_0644(home: Path) -> None:
    path = write_cli_creds(home)
    path.chmod(0o644)
    CredentialStore(home).save(creds())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_B23b_dir_not_writable_raises_credentials_not_saved(home: Path) -> None:
    # A regular file where ~/.qwen should be: fails for root too.
    (home / ".qwen").write_text("not a directory")
    store = CredentialStore(home)

    with pytest.raises(CredentialsNotSaved) as caught:
        store.save(creds())

    assert str(caught.value).startswith(f"cannot save the sign-in to {store.path}: ")
    assert str(caught.value).endswith(
        "; the credentials stay in memory for this session only"
    )
    assert (home / ".qwen").read_text() == "not a directory"


@pytest.mark.skipif(AS_ROOT, reason="root writes into read-only directories")
def test_B23b_read_only_dir_raises_credentials_not_saved(home: Path) -> None:
    qwen = home / ".qwen"
    qwen.mkdir(mode=0o500)
    try:
        with pytest.raises(CredentialsNotSaved, match="permission denied"):
            CredentialStore(home).save(creds())
    finally:
        qwen.chmod(0o700)


def test_clear(home: Path) -> None:
    store = CredentialStore(home)
    assert store.clear() is False
    store.save(creds())
    assert store.clear() is True
    assert not store.path.exists()
    assert not store.lock_path.exists()


# -- the lock ----------------------------------------------------------------------


def hold_lock(store: CredentialStore, age: float = 0.0) -> None:
    store.dir.mkdir(parents=True, exist_ok=True)
    store.lock_path.write_text("someone-else")
    if age:
        then = time.time() - age
        os.utime(store.lock_path, (then, then))


async def test_lock_is_exclusive_and_removed_on_exit(home: Path) -> None:
    store = CredentialStore(home)
    with pytest.raises(RuntimeError):
        async with store.lock():
            content = store.lock_path.read_text()
            assert len(content) == 36  # a UUID, like the CLI's
            assert stat.S_IMODE(store.lock_path.stat().st_mode) == 0o600
            raise RuntimeError("boom")
    assert not store.lock_path.exists()


async def test_held_lock_is_waited_for(home: Path) -> None:
    store = CredentialStore(home)
    hold_lock(store)
    asyncio.get_running_loop().call_later(0.3, store.lock_path.unlink)

    started = time.monotonic()
    async with store.lock():
        waited = time.monotonic() - started
        assert store.lock_path.read_text() != "someone-else"

    assert 0.25 < waited < 2.0
    assert not store.lock_path.exists()


async def test_stale_lock_is_broken_at_once(home: Path) -> None:
    store = CredentialStore(home)
    hold_lock(store, age=11)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    store._sleep = sleep
    async with store.lock():
        assert store.lock_path.read_text() != "someone-else"

    assert waits == []
    assert list(store.dir.iterdir()) == []  # no <lock>.stale.<uuid> left


async def test_lock_timeout_after_20_tries_with_growing_waits(home: Path) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    store = CredentialStore(home, sleep=sleep)
    hold_lock(store)

    with pytest.raises(LockTimeout, match="is held by another process"):
        async with store.lock():
            pass

    assert waits == pytest.approx(
        [0.1, 0.15, 0.225, 0.3375, 0.50625, 0.759375, 1.1390625, 1.70859375]
        + [2.0] * 11
    )
    assert store.lock_path.read_text() == "someone-else"


async def test_lock_taken_over_as_stale_is_not_removed_by_the_old_holder(
    home: Path,
) -> None:
    store = CredentialStore(home)
    async with store.lock():
        store.lock_path.write_text("the-new-holder")
    assert store.lock_path.read_text() == "the-new-holder"


def test_save_waits_for_the_lock_then_times_out_as_not_saved(home: Path) -> None:
    store = CredentialStore(home)
    store.lock_attempts = 3
    store.lock_first_wait = 0.01
    hold_lock(store)

    with pytest.raises(CredentialsNotSaved, match="stay in memory"):
        store.save(creds())

    assert not store.path.exists()
    assert store.clear() is False  # signing out does not wait for ever either
