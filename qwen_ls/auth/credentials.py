"""``~/.qwen/oauth_creds.json``, shared with the Qwen Code CLI: its format, and the
CLI's lock file protocol so that both tools can refresh the same sign-in safely."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qwen_ls.config.edit import atomic_write
from qwen_ls.log import remember_secret

if TYPE_CHECKING:
    from qwen_ls.auth.oauth import TokenResponse

logger = logging.getLogger(__name__)

DEFAULT_RESOURCE_BASE = "https://dashscope.aliyuncs.com/compatible-mode/v1"
# When a token answer omits expires_in; a 401 from the API refreshes earlier anyway.
DEFAULT_LIFETIME_S = 3600.0


class CredentialsError(Exception):
    """The credentials file could not be used as intended."""


class CredentialsNotSaved(CredentialsError):
    """The credentials file (or its lock) could not be written, e.g. ``~/.qwen`` is
    not writable. The caller keeps the credentials in memory for this session."""


class LockTimeout(CredentialsError):
    """Another process kept ``oauth_creds.lock`` through every attempt to take it."""


class OAuthCredentials(BaseModel):
    """The contents of ``oauth_creds.json``; unknown fields are kept for rewriting."""

    model_config = ConfigDict(extra="allow")

    access_token: str = Field(min_length=1)
    refresh_token: str = ""
    token_type: str = "Bearer"
    resource_url: str | None = None
    expiry_date: int
    """Epoch milliseconds."""

    @field_validator("expiry_date", mode="before")
    @classmethod
    def _milliseconds(cls, value: Any) -> Any:
        # A number, as the CLI requires; a fractional one is rounded. Not a string
        # or a boolean.
        if isinstance(value, float) and math.isfinite(value):
            return round(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expiry_date must be a number of milliseconds")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Tokens (and unknown fields such as id_token) never reach a repr or a log.
        yield "token_type", self.token_type
        yield "resource_url", self.resource_url
        yield "expiry_date", self.expiry_date

    def expires_within(self, seconds: float, now_ms: int | None = None) -> bool:
        """Whether fewer than ``seconds`` remain before the access token expires."""
        now = _now_ms() if now_ms is None else now_ms
        return self.expiry_date - now < seconds * 1000

    def base_url(self) -> str:
        """The OpenAI-compatible endpoint these credentials are valid for."""
        url = (self.resource_url or "").strip()
        if not url:
            return DEFAULT_RESOURCE_BASE
        if not url.lower().startswith(("http://", "https://")):
            url = "https://" + url
        url = url.rstrip("/")  # so "…/v1/" does not become "…/v1//v1"
        return url if url.endswith("/v1") else url + "/v1"

    def to_json(self) -> str:
        """The file text: the CLI's field order, then unknown fields, 2-space indent."""
        data = self.model_dump()
        if data.get("resource_url") is None:
            del data["resource_url"]
        return json.dumps(data, indent=2, ensure_ascii=False)


def credentials_from_token(
    token: TokenResponse,
    *,
    previous: OAuthCredentials | None,
    now_ms: int | None = None,
) -> OAuthCredentials:
    """Credentials from a token answer received at ``now_ms`` (local time, so a wrong
    clock or server date does not matter). From ``previous`` come a refresh token or
    ``resource_url`` the answer omits, and unknown fields; pass None after a sign-in."""
    now = _now_ms() if now_ms is None else now_ms
    lifetime = token.expires_in if token.expires_in is not None else DEFAULT_LIFETIME_S
    extra = dict(previous.model_extra or {}) if previous is not None else {}
    return OAuthCredentials(
        access_token=token.access_token,
        refresh_token=token.refresh_token
        or (previous.refresh_token if previous is not None else ""),
        token_type=token.token_type,
        resource_url=token.resource_url
        or (previous.resource_url if previous is not None else None),
        expiry_date=now + round(lifetime * 1000),
        **extra,
    )


class CredentialStore:
    """Reads and writes the credentials file. Reading never changes it: a file that
    cannot be used is reported in ``problem``, not deleted or rewritten."""

    lock_attempts = 20
    lock_first_wait = 0.1
    lock_growth = 1.5
    lock_max_wait = 2.0
    lock_stale_after = 10.0

    def __init__(
        self,
        home: Path,
        *,
        qwen_dir: Path | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``qwen_dir`` replaces ``home/.qwen`` (for ``QWEN_HOME``)."""
        self.dir = qwen_dir if qwen_dir is not None else home / ".qwen"
        self.path = self.dir / "oauth_creds.json"
        self.lock_path = self.dir / "oauth_creds.lock"
        self.problem: str | None = None
        self._sleep = sleep

    # -- the file ------------------------------------------------------------

    def load(self) -> OAuthCredentials | None:
        """The stored credentials, or None; ``problem`` says why unless absent."""
        self.problem = None
        try:
            data = self.path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            self.problem = f"{self.path} is a directory, not a file; sign in again"
            return None
        except PermissionError:
            self.problem = (
                f"cannot read {self.path}: permission denied (check owner/permissions)"
            )
            return None
        except OSError as exc:
            self.problem = f"cannot read {self.path}: {exc.strerror or exc}"
            return None

        creds, reason = parse_credentials(data)
        if creds is not None:
            remember_secret(creds.access_token)
            remember_secret(creds.refresh_token)
        if reason is not None:
            self.problem = f"{self.path} is not valid ({reason}); sign in again"
        return creds

    def save(self, creds: OAuthCredentials) -> None:
        """Write under the lock (blocking while another process holds it: call it via
        ``asyncio.to_thread`` from the event loop). Raises CredentialsNotSaved."""
        try:
            with self._blocking_lock():
                self.write(creds)
        except LockTimeout as exc:
            raise CredentialsNotSaved(
                f"{exc}; the credentials stay in memory for this session only"
            ) from exc

    def write(self, creds: OAuthCredentials) -> None:
        """Write atomically with mode 0600; the caller holds the lock."""
        try:
            atomic_write(self.path, creds.to_json().encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise CredentialsNotSaved(self._not_saved(exc)) from exc

    def clear(self) -> bool:
        """Remove the file under the lock; True if there was one."""
        try:
            with self._blocking_lock():
                return self.remove()
        except LockTimeout:
            return self.remove()  # signing out must work even then

    def remove(self) -> bool:
        """Remove the file; the caller holds the lock."""
        try:
            self.path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise CredentialsError(
                f"cannot remove {self.path}: {exc.strerror}"
            ) from exc
        return True

    def _not_saved(self, exc: OSError) -> str:
        reason = (
            "permission denied (check owner/permissions)"
            if isinstance(exc, PermissionError)
            else (exc.strerror or str(exc))
        )
        return (
            f"cannot save the sign-in to {self.path}: {reason}; the credentials stay "
            "in memory for this session only"
        )

    # -- the lock ------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        """Hold ``oauth_creds.lock`` the way the Qwen Code CLI does.

        Raises LockTimeout, or CredentialsNotSaved when the lock cannot be created.
        """
        token = str(uuid.uuid4())
        for wait in self._waits():
            if self._try_lock(token):
                break
            if wait is None:
                raise self._timeout()
            await self._sleep(wait)
        try:
            yield
        finally:
            self._unlock(token)

    @contextlib.contextmanager
    def _blocking_lock(self) -> Iterator[None]:
        token = str(uuid.uuid4())
        for wait in self._waits():
            if self._try_lock(token):
                break
            if wait is None:
                raise self._timeout()
            time.sleep(wait)
        try:
            yield
        finally:
            self._unlock(token)

    def _waits(self) -> Iterator[float | None]:
        """The pause after each failed attempt; None after the last one."""
        wait = self.lock_first_wait
        for _ in range(self.lock_attempts - 1):
            yield wait
            wait = min(wait * self.lock_growth, self.lock_max_wait)
        yield None

    def _try_lock(self, token: str) -> bool:
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CredentialsNotSaved(self._not_saved(exc)) from exc
        for _ in range(2):  # once more at once after breaking a stale lock
            try:
                fd = os.open(
                    self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
                )
            except FileExistsError:
                if not self._break_if_stale():
                    return False
                continue
            except OSError as exc:
                raise CredentialsNotSaved(self._not_saved(exc)) from exc
            with os.fdopen(fd, "w") as out:
                out.write(token)
            return True
        return False

    def _break_if_stale(self) -> bool:
        """Remove a lock older than ``lock_stale_after``; True to try again at once."""
        try:
            age = time.time() - self.lock_path.stat().st_mtime
        except FileNotFoundError:
            return True
        if age <= self.lock_stale_after:
            return False
        # Renamed first, so of two processes breaking it only one removes it.
        stale = self.lock_path.with_name(f"{self.lock_path.name}.stale.{uuid.uuid4()}")
        try:
            os.rename(self.lock_path, stale)
            os.unlink(stale)
        except FileNotFoundError:
            return True
        logger.info(
            "removed %s: held for %.0f s, longer than any refresh", self.lock_path, age
        )
        return True

    def _unlock(self, token: str) -> None:
        # Only our own: if ours was broken as stale, the file is now someone else's.
        with contextlib.suppress(OSError):
            if self.lock_path.read_text() == token:
                self.lock_path.unlink()

    def _timeout(self) -> LockTimeout:
        return LockTimeout(
            f"{self.lock_path} is held by another process (a Qwen Code session or "
            "another editor window); try again in a moment"
        )


def parse_credentials(data: bytes) -> tuple[OAuthCredentials | None, str | None]:
    """The credentials in ``data``, or None and the reason (never quoting a value)."""
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON at line {exc.lineno} column {exc.colno}"
    if not isinstance(value, dict):
        return None, "not a JSON object"
    try:
        return OAuthCredentials.model_validate(value), None
    except ValidationError as exc:
        # Only field names: pydantic's own text would quote the values.
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        return None, "missing or wrong " + ", ".join(fields)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
