"""One server process's view of the shared Qwen OAuth sign-in: a valid access token
on demand, refreshed at most once at a time in this process and, through the CLI's
lock file, at most once across all processes sharing ``~/.qwen``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from qwen_ls.auth.credentials import (
    CredentialsError,
    CredentialsNotSaved,
    CredentialStore,
    LockTimeout,
    OAuthCredentials,
    credentials_from_token,
)
from qwen_ls.auth.oauth import OAuthError, QwenOAuth
from qwen_ls.config.files import Fingerprint, fingerprint

logger = logging.getLogger(__name__)

REFRESH_MARGIN_S = 30.0
SIGNED_OUT = "Qwen OAuth sign-in expired; sign in again"


class TokenManager:
    """Valid credentials for requests; one per server process.

    ``problem`` says why credentials are missing (an invalid file) or will not last
    beyond this session (the file could not be written). ``oauth`` makes the OAuth
    client when a refresh needs it (reading credentials does not load httpx).
    """

    def __init__(
        self,
        store: CredentialStore,
        oauth: Callable[[], QwenOAuth],
        *,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.store = store
        self._oauth = oauth
        self._now_ms = now_ms
        self._cached: OAuthCredentials | None = None
        self._stamp: Fingerprint | None = None
        self._memory: OAuthCredentials | None = None
        self._refreshing: asyncio.Task[OAuthCredentials] | None = None
        self.problem: str | None = None

    def peek(self) -> OAuthCredentials | None:
        """The current credentials, maybe expired; the file is re-read only when it
        changed. Never refreshes."""
        if self._memory is not None:
            return self._memory
        stamp = fingerprint(self.store.path)
        if stamp != self._stamp:
            self._cached = self.store.load()
            self._stamp = stamp
            self.problem = self.store.problem
        return self._cached

    async def access(
        self, *, force_refresh: bool = False, rejected_token: str | None = None
    ) -> OAuthCredentials:
        """Credentials with more than 30 s left, refreshing when needed.

        ``force_refresh`` after the API rejected the token. Pass the rejected
        ``rejected_token`` too, so that a token another request already replaced is
        not refreshed twice. Raises OAuthError (``signedOut`` when the user must sign
        in again; other kinds keep the credentials).
        """
        creds = self.peek()
        if creds is None:
            raise self._not_signed_in()
        if rejected_token is not None and creds.access_token != rejected_token:
            force_refresh = False
        if not force_refresh and not creds.expires_within(
            REFRESH_MARGIN_S, self._now_ms()
        ):
            return creds

        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(
                self._refresh(creds, force_refresh)
            )
            self._refreshing.add_done_callback(_retrieve)
        return await asyncio.shield(self._refreshing)

    def forget(self) -> None:
        """Drop everything held in memory (after signing out)."""
        self._memory = None
        self._cached = None
        self._stamp = None
        self.problem = None

    def remember(self, creds: OAuthCredentials) -> None:
        """Use ``creds`` from memory only, for when saving them failed."""
        self._memory = creds

    # -- refreshing ----------------------------------------------------------

    async def _refresh(self, used: OAuthCredentials, forced: bool) -> OAuthCredentials:
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self.store.lock())
                writable = True
            except CredentialsNotSaved as exc:
                self.problem = str(exc)
                logger.warning("%s", exc)
                writable = False
            except LockTimeout as exc:
                latest = self._reload()
                if latest is not None and self._instead(latest, used, forced):
                    return latest
                raise OAuthError(
                    "server", f"cannot refresh the Qwen OAuth token: {exc}"
                ) from exc
            fresh = await self._refresh_locked(used, forced, writable)
        return fresh

    async def _refresh_locked(
        self, used: OAuthCredentials, forced: bool, writable: bool
    ) -> OAuthCredentials:
        if self._memory is not None:
            source = self._memory
        else:
            # Another process may have refreshed while we waited for the lock.
            disk = self._reload()
            if disk is None:
                raise self._not_signed_in()
            if self._instead(disk, used, forced):
                logger.debug("the Qwen OAuth token was refreshed by another process")
                return disk
            source = disk

        if not source.refresh_token:
            raise OAuthError("signedOut", SIGNED_OUT)
        try:
            token = await self._oauth().refresh(source.refresh_token)
        except OAuthError as exc:
            if exc.kind != "signedOut":
                raise
            return await self._after_rejection(source, writable)
        return self._keep(
            credentials_from_token(token, previous=source, now_ms=self._now_ms()),
            writable,
        )

    async def _after_rejection(
        self, source: OAuthCredentials, writable: bool
    ) -> OAuthCredentials:
        """The refresh token was refused: someone may have rotated it meanwhile
        (a process that does not take the lock). Retry once with a newer one."""
        again = self._reload() if self._memory is None else None
        if (
            again is not None
            and again.refresh_token
            and again.refresh_token != source.refresh_token
        ):
            if not again.expires_within(REFRESH_MARGIN_S, self._now_ms()):
                return again
            try:
                token = await self._oauth().refresh(again.refresh_token)
            except OAuthError as exc:
                if exc.kind != "signedOut":
                    raise
                source = again
            else:
                new = credentials_from_token(
                    token, previous=again, now_ms=self._now_ms()
                )
                return self._keep(new, writable)

        if self._memory is not None:
            self._memory = None
        else:
            latest = self.store.load()
            # Never delete credentials newer than the ones that were refused.
            if latest is not None and _same(latest, source):
                with contextlib.suppress(CredentialsError):
                    self.store.remove()
            self._reload()
        logger.info("Qwen OAuth refresh token refused: signed out")
        raise OAuthError("signedOut", SIGNED_OUT)

    def _keep(self, new: OAuthCredentials, writable: bool) -> OAuthCredentials:
        minutes = (new.expiry_date - self._now_ms()) / 60_000
        logger.info("refreshed the Qwen OAuth token (valid for %.0f min)", minutes)
        if self._memory is not None or not writable:
            self._memory = new
            return new
        try:
            self.store.write(new)
        except CredentialsNotSaved as exc:
            self.problem = str(exc)
            logger.warning("%s", exc)
            self._memory = new
            return new
        self._cached = new
        self._stamp = fingerprint(self.store.path)
        return new

    def _instead(
        self, disk: OAuthCredentials, used: OAuthCredentials, forced: bool
    ) -> bool:
        """Whether ``disk`` can serve instead of refreshing ``used``."""
        if disk.expires_within(REFRESH_MARGIN_S, self._now_ms()):
            return False
        return not forced or disk.access_token != used.access_token

    def _reload(self) -> OAuthCredentials | None:
        self._stamp = None
        return self.peek() if self._memory is None else self._memory

    def _not_signed_in(self) -> OAuthError:
        if self.store.problem is not None:
            return OAuthError("signedOut", self.store.problem)
        return OAuthError(
            "signedOut",
            "not signed in to Qwen OAuth; run the qwen.auth command to sign in",
        )


def _same(a: OAuthCredentials, b: OAuthCredentials) -> bool:
    return a.access_token == b.access_token and a.refresh_token == b.refresh_token


def _retrieve(task: asyncio.Task[OAuthCredentials]) -> None:
    # Callers may all have gone (cancelled) before the shared refresh ended.
    if not task.cancelled():
        task.exception()
