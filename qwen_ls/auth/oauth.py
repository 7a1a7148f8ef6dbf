"""The Qwen OAuth device authorization grant (RFC 8628) with PKCE (RFC 7636, S256):
start a sign-in, poll until the user approves it in a browser, refresh tokens.

Polling follows the RFC rather than the Qwen Code CLI: the server's interval, five
seconds more for each ``slow_down``, and an end when the code expires."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import logging
import math
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

from qwen_ls.log import remember_secret

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

DEFAULT_BASE = "https://chat.qwen.ai"
DEVICE_CODE_PATH = "/api/v1/oauth2/device/code"
TOKEN_PATH = "/api/v1/oauth2/token"
CLIENT_ID = "f0304373b74a44d2b584a3fb70ca9e56"
SCOPE = "openid profile email model.completion"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

DEFAULT_INTERVAL = 2.0
DEFAULT_EXPIRES_IN = 300.0
SLOW_DOWN_STEP = 5.0
# Consecutive network failures or 5xx answers tolerated while polling (a Wi-Fi blip
# should not cost the user a sign-in they are about to approve).
POLL_FAILURES = 3
# Below the 10 s after which other processes break oauth_creds.lock as stale.
REFRESH_TIMEOUT = 8.0  # seconds
REQUEST_TIMEOUT = 30.0

Kind = Literal[
    "denied",
    "expired",
    "timeout",
    "cancelled",
    "network",
    "server",
    "rateLimit",
    "signedOut",
    "discontinued",
]

_DISCONTINUED = re.compile(
    r"discontinued|free allocated quota|free tier", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MAX_DETAIL = 200
_T = TypeVar("_T")


class OAuthError(Exception):
    """A sign-in or token refresh failed; ``kind`` says how, ``str(error)`` what to do.

    The message never contains a token, code or verifier. ``status`` is the HTTP
    status when the server answered; ``retry_after`` its wait hint in seconds.
    """

    def __init__(
        self,
        kind: Kind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: Kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"OAuthError({self.kind!r}, {self.message!r}, status={self.status!r})"


@dataclass(frozen=True)
class DeviceAuthorization:
    """What the user needs to approve the sign-in, and what polling needs."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: float
    interval: float = DEFAULT_INTERVAL
    obtained_at: float | None = None
    """The ``clock`` reading when the server answered; the code expires
    ``expires_in`` seconds later. None: when polling starts."""


@dataclass(frozen=True)
class TokenResponse:
    """A successful token answer (device flow or refresh)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    token_type: str
    expires_in: float | None
    resource_url: str | None
    raw: dict[str, Any] = field(repr=False)


@dataclass
class _Answer:
    """A token endpoint answer reduced to what polling decides on."""

    status: int
    body: dict[str, Any] | None
    retry_after: float | None

    @property
    def error(self) -> str | None:
        if self.body is None:
            return None
        error = self.body.get("error")
        return error if isinstance(error, str) else None


class QwenOAuth:
    """The client side of Qwen OAuth; one instance may run any number of flows."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc.rpartition("@")[2] or self.base_url
        self._clock = clock
        self._sleep = sleep

    # -- device flow ---------------------------------------------------------

    async def start(self) -> tuple[DeviceAuthorization, str]:
        """Ask for a device code; returns it with the PKCE verifier for :meth:`poll`."""
        verifier, challenge = pkce_pair()
        remember_secret(verifier)
        form = {
            "client_id": CLIENT_ID,
            "scope": SCOPE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        answer = await self._post(
            DEVICE_CODE_PATH, form, {"x-request-id": str(uuid.uuid4())}, REQUEST_TIMEOUT
        )
        body = answer.body
        if body is None or not isinstance(body.get("device_code"), str):
            raise self._failure(answer, "could not start Qwen OAuth sign-in")
        remember_secret(body["device_code"])
        return self._device_authorization(answer, body), verifier

    async def poll(
        self,
        auth: DeviceAuthorization,
        verifier: str,
        *,
        cancel: asyncio.Event | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> TokenResponse:
        """Wait for the user's approval. ``on_wait`` hears the seconds until each poll;
        setting ``cancel`` ends the wait at once with kind ``cancelled``."""
        started = self._clock() if auth.obtained_at is None else auth.obtained_at
        deadline = started + auth.expires_in
        form = {
            "grant_type": DEVICE_GRANT,
            "client_id": CLIENT_ID,
            "device_code": auth.device_code,
            "code_verifier": verifier,
        }
        interval = auth.interval
        wait = interval
        failures = 0
        while True:
            await self._wait_for_poll(wait, deadline, cancel, on_wait)
            try:
                answer = await self._until_cancelled(
                    self._post(TOKEN_PATH, form, {}, REQUEST_TIMEOUT), cancel
                )
            except OAuthError as exc:
                failures += 1
                if exc.kind != "network" or failures >= POLL_FAILURES:
                    raise
                wait = interval
                continue

            token = _token(answer)
            if token is not None:
                return token
            if answer.status >= 500:
                failures += 1
                if failures >= POLL_FAILURES:
                    raise self._failure(answer, "Qwen OAuth sign-in failed")
                wait = interval
                continue
            failures = 0
            interval, wait = self._next_wait(answer, interval)

    async def _wait_for_poll(
        self,
        wait: float,
        deadline: float,
        cancel: asyncio.Event | None,
        on_wait: Callable[[float], None] | None,
    ) -> None:
        """Sleep ``wait`` seconds, never past ``deadline`` (when the code expires)."""
        remaining = deadline - self._clock()
        if remaining > 0:
            pause = min(wait, remaining)
            if on_wait is not None:
                on_wait(pause)
            await self._until_cancelled(self._sleep(pause), cancel)
        if self._clock() >= deadline:
            raise OAuthError("timeout", "login code expired — start sign-in again")

    def _next_wait(self, answer: _Answer, interval: float) -> tuple[float, float]:
        """(interval, seconds until the next poll) after a refused poll, or raise."""
        error = answer.error
        logger.debug("Qwen OAuth poll: HTTP %s %s", answer.status, error)
        if error == "authorization_pending":
            return interval, interval
        if error == "slow_down":  # RFC 8628 3.5: for the rest of this flow
            interval += SLOW_DOWN_STEP
            return interval, max(interval, answer.retry_after or 0.0)
        if answer.status == 429 and not _discontinued(answer.body):
            return interval, max(interval, answer.retry_after or 0.0)
        if error == "access_denied":
            raise OAuthError(
                "denied",
                "Qwen OAuth sign-in was declined in the browser; start sign-in again "
                "to retry",
                status=answer.status,
            )
        if error == "expired_token":
            raise OAuthError(
                "expired",
                "login code expired before it was approved — start sign-in again",
                status=answer.status,
            )
        raise self._failure(answer, "Qwen OAuth sign-in failed")

    # -- refresh -------------------------------------------------------------

    async def refresh(self, refresh_token: str) -> TokenResponse:
        """Exchange a refresh token. 400/401: kind ``signedOut`` (sign in again);
        anything else unusable: kind ``server`` or ``network`` (keep the credentials).
        """
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
        }
        answer = await self._post(TOKEN_PATH, form, {}, REFRESH_TIMEOUT)
        token = _token(answer)
        if token is not None:
            return token
        if answer.status in (400, 401) and not _discontinued(answer.body):
            raise OAuthError(
                "signedOut",
                "Qwen OAuth sign-in expired; sign in again",
                status=answer.status,
            )
        if answer.status < 300 and answer.body is not None and answer.error is None:
            raise OAuthError(
                "server",
                f"the token refresh answer from {self.host} held no access token",
                status=answer.status,
            )
        raise self._failure(answer, "Qwen OAuth token refresh failed")

    # -- HTTP ----------------------------------------------------------------

    async def _post(
        self,
        path: str,
        form: dict[str, str],
        headers: dict[str, str],
        timeout: float,
    ) -> _Answer:
        import httpx  # loaded by the first request, not by reading credentials

        try:
            response = await self._http.post(
                self.base_url + path,
                content=form_body(form).encode("ascii"),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    **headers,
                },
                timeout=httpx.Timeout(timeout),
            )
        except httpx.HTTPError as exc:
            raise OAuthError("network", self._network_problem(exc)) from exc
        return _Answer(
            response.status_code, _json_object(response), _retry_after(response)
        )

    async def _until_cancelled(
        self, work: Awaitable[_T], cancel: asyncio.Event | None
    ) -> _T:
        """Run ``work`` unless and until ``cancel`` is set."""
        if cancel is None:
            return await work
        if cancel.is_set():
            if isinstance(work, Coroutine):
                work.close()
            raise _cancelled()
        task = asyncio.ensure_future(work)
        waiter = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, waiter):
                pending.cancel()
            await asyncio.gather(task, waiter, return_exceptions=True)
        if task.done() and not task.cancelled():
            return task.result()
        raise _cancelled()

    # -- reading answers -----------------------------------------------------

    def _device_authorization(
        self, answer: _Answer, body: dict[str, Any]
    ) -> DeviceAuthorization:
        user_code = body.get("user_code")
        uri = _web_url(body.get("verification_uri"))
        if not isinstance(user_code, str) or not user_code or uri is None:
            raise self._unexpected(answer)
        complete = _web_url(body.get("verification_uri_complete")) or uri
        return DeviceAuthorization(
            device_code=body["device_code"],
            user_code=user_code,
            verification_uri=uri,
            verification_uri_complete=complete,
            expires_in=_seconds(body.get("expires_in")) or DEFAULT_EXPIRES_IN,
            interval=_seconds(body.get("interval")) or DEFAULT_INTERVAL,
            obtained_at=self._clock(),
        )

    def _failure(self, answer: _Answer, what: str) -> OAuthError:
        """The error for an answer that is neither success nor a known OAuth code."""
        body = answer.body
        if body is None:
            return self._unexpected(answer, what)
        detail = _detail(body)
        if _discontinued(body):
            return OAuthError(
                "discontinued",
                f"{self.host} says: {detail}. The Qwen OAuth free tier has ended; run "
                "the qwen.auth command and choose Coding Plan or an API key instead",
                status=answer.status,
            )
        if answer.status == 429:
            return OAuthError(
                "rateLimit",
                f"{what}: {self.host} is rate limiting requests ({detail}); try again "
                "in a few minutes",
                status=429,
                retry_after=answer.retry_after,
            )
        suffix = f": {detail}" if detail else ""
        return OAuthError(
            "server",
            f"{what} (HTTP {answer.status} from {self.host}){suffix}",
            status=answer.status,
        )

    def _unexpected(
        self, answer: _Answer, what: str = "Qwen OAuth sign-in failed"
    ) -> OAuthError:
        return OAuthError(
            "server",
            f"{what}: unexpected response from {self.host} (HTTP {answer.status}) "
            "instead of the JSON an OAuth server sends",
            status=answer.status,
        )

    def _network_problem(self, exc: httpx.HTTPError) -> str:
        reason = _clean(str(exc)) or type(exc).__name__
        message = f"cannot reach {self.host}: {reason}"
        if "certificate" in reason.lower() and re.search(
            r"not yet valid|expired", reason, re.IGNORECASE
        ):
            return message + " — check the system clock and date"
        return message + " — check the network connection and proxy settings"


def pkce_pair() -> tuple[str, str]:
    """A fresh (verifier, S256 challenge): 32 random bytes as 43 base64url chars."""
    verifier = _b64url(secrets.token_bytes(32))
    challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


def form_body(fields: dict[str, str]) -> str:
    """application/x-www-form-urlencoded as JavaScript's encodeURIComponent escapes it
    (spaces as %20, which the Qwen server expects, not +)."""
    safe = "-_.!~*'()"
    return "&".join(
        f"{quote(k, safe=safe)}={quote(v, safe=safe)}" for k, v in fields.items()
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _token(answer: _Answer) -> TokenResponse | None:
    body = answer.body
    if answer.status >= 300 or body is None or body.get("error"):
        return None
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        return None
    refresh = body.get("refresh_token")
    remember_secret(access)
    remember_secret(refresh if isinstance(refresh, str) else None)
    token_type = body.get("token_type")
    resource = body.get("resource_url")
    return TokenResponse(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        token_type=token_type
        if isinstance(token_type, str) and token_type
        else "Bearer",
        expires_in=_seconds(body.get("expires_in")),
        resource_url=resource if isinstance(resource, str) and resource else None,
        raw=body,
    )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 and math.isfinite(seconds) else None


def _web_url(value: Any) -> str | None:
    """``value`` if it is an http(s) URL (the only kind the editor is asked to open)."""
    if isinstance(value, str) and urlsplit(value).scheme in ("http", "https"):
        return value
    return None


def _discontinued(body: dict[str, Any] | None) -> bool:
    if body is None:
        return False
    return bool(_DISCONTINUED.search(_detail(body)))


def _detail(body: dict[str, Any]) -> str:
    """The server's own words about an error, one line, short."""
    parts: list[str] = []
    for name in ("error", "error_description", "message"):
        value = body.get(name)
        if isinstance(value, dict):  # {"error": {"code": ..., "message": ...}}
            value = value.get("message") or value.get("code")
        if isinstance(value, str) and value and value not in parts:
            parts.append(value)
    return _clean(": ".join(parts))


def _clean(text: str) -> str:
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1].rstrip() + "…"
    return text


def _cancelled() -> OAuthError:
    return OAuthError("cancelled", "Qwen OAuth sign-in cancelled")
