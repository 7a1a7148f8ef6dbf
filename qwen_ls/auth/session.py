"""The Qwen OAuth sign-in of one server process: the token manager over the shared
credentials file, the OAuth server it talks to, and what the process has learnt
about the credentials (a sign-in waiting in the browser, credentials the API
refused), so that every folder's status says the same truth."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from qwen_ls.auth.credentials import CredentialStore, OAuthCredentials
from qwen_ls.auth.oauth import DEFAULT_BASE, DeviceAuthorization, QwenOAuth
from qwen_ls.auth.tokens import TokenManager
from qwen_ls.config import OAuthStatus
from qwen_ls.config.urls import base_url_problem

if TYPE_CHECKING:
    import httpx

OAUTH_BASE_VAR = "QWEN_OAUTH_BASE_URL"
OAUTH_MODEL = "coder-model"
"""The only model Qwen OAuth serves."""


class OAuthBaseUrlError(ValueError):
    """``QWEN_OAUTH_BASE_URL`` in the server's environment is not an http(s) URL."""


def oauth_base_url(environ: Mapping[str, str]) -> str:
    """The OAuth server: ``QWEN_OAUTH_BASE_URL`` of the server's own process
    environment (never a project file), else https://chat.qwen.ai."""
    value = (environ.get(OAUTH_BASE_VAR) or "").strip()
    if not value:
        return DEFAULT_BASE
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise OAuthBaseUrlError(
            f"{OAUTH_BASE_VAR} in the server's environment is not a valid URL (check "
            "its port); correct or unset it"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OAuthBaseUrlError(
            f"{OAUTH_BASE_VAR} in the server's environment is not an http(s) URL; "
            "correct or unset it"
        )
    return value.rstrip("/")


@dataclass(frozen=True)
class Refusal:
    """Credentials the API or the token server refused, and what to tell the user."""

    access_token: str
    message: str


class OAuthSession:
    """Per process: one token manager, one HTTP client for the OAuth server, made on
    first use, and the refusals seen for the current credentials."""

    def __init__(
        self,
        home: Path,
        environ: Mapping[str, str],
        transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        """``transport`` makes the HTTP transport (proxies, CAs) on first use."""
        self.home = home
        self.environ = environ
        self.store = CredentialStore(home)
        self.pending: DeviceAuthorization | None = None
        """A device flow waiting for the user's approval in the browser."""
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._oauth: QwenOAuth | None = None
        self._tokens: TokenManager | None = None
        self._refusal: Refusal | None = None
        self._flow_cancel: asyncio.Event | None = None

    @property
    def creds_file(self) -> Path:
        return self.store.path

    def oauth(self) -> QwenOAuth:
        """The OAuth client; raises OAuthBaseUrlError for a bad QWEN_OAUTH_BASE_URL."""
        if self._oauth is None:
            base = oauth_base_url(self.environ)
            if self._http is None:
                # httpx: loaded by the first request to the OAuth server; a status
                # only reads the credentials file.
                import httpx

                from qwen_ls.llm.transport import MadeOnFirstUse

                transport = MadeOnFirstUse(self._transport) if self._transport else None
                self._http = httpx.AsyncClient(transport=transport, trust_env=False)
            self._oauth = QwenOAuth(self._http, base)
        return self._oauth

    @property
    def tokens(self) -> TokenManager:
        if self._tokens is None:
            oauth_base_url(self.environ)  # a bad QWEN_OAUTH_BASE_URL: nothing is made
            self._tokens = TokenManager(self.store, self.oauth)
        return self._tokens

    # -- what the process knows ----------------------------------------------

    def peek(self) -> OAuthCredentials | None:
        """The stored credentials (maybe expired), without any network request."""
        try:
            tokens = self.tokens
        except OAuthBaseUrlError:
            return self.store.load()
        return tokens.peek()

    def status(self) -> OAuthStatus:
        creds = self.peek()
        problem = self._tokens.problem if self._tokens is not None else None
        problem = problem or self.store.problem
        try:
            oauth_base_url(self.environ)
        except OAuthBaseUrlError as exc:
            problem = str(exc)
        pending = self._pending_note()
        if creds is None:
            return OAuthStatus(
                creds_file=self.creds_file,
                signed_in=False,
                problem=problem or pending or "not signed in",
                pending=pending,
            )
        refusal = self._refusal
        if refusal is not None and refusal.access_token == creds.access_token:
            return OAuthStatus(
                creds_file=self.creds_file,
                signed_in=False,
                rejected=True,
                problem=refusal.message,
                pending=pending,
            )
        base_url = creds.base_url()
        if (reason := base_url_problem(base_url)) is not None:
            return OAuthStatus(
                creds_file=self.creds_file,
                signed_in=False,
                problem=f"resource_url in {self.creds_file} {reason}; sign in again",
            )
        return OAuthStatus(
            creds_file=self.creds_file,
            signed_in=True,
            base_url=base_url,
            problem=problem,
            pending=pending,
        )

    def refuse(self, access_token: str, message: str) -> None:
        """Remember that these credentials were refused: requests fail fast with
        ``message`` until the credentials change (a new sign-in or another tool)."""
        self._refusal = Refusal(access_token, message)

    def refusal_for(self, access_token: str) -> str | None:
        refusal = self._refusal
        if refusal is not None and refusal.access_token == access_token:
            return refusal.message
        return None

    def changed(self) -> None:
        """The credentials were written or removed here: read them again."""
        self._refusal = None
        if self._tokens is not None:
            self._tokens.forget()

    def _pending_note(self) -> str | None:
        if self.pending is None:
            return None
        return (
            "a Qwen OAuth sign-in is waiting for approval: open "
            f"{self.pending.verification_uri} and enter the code "
            f"{self.pending.user_code}"
        )

    # -- the one device flow at a time ---------------------------------------

    def begin_flow(self) -> asyncio.Event:
        """A cancel event for a new device flow; an older flow still waiting is
        cancelled (the user asked again, e.g. after closing the browser tab)."""
        if self._flow_cancel is not None:
            self._flow_cancel.set()
        self._flow_cancel = asyncio.Event()
        return self._flow_cancel

    def replaced(self, cancel: asyncio.Event) -> bool:
        """Whether the flow of ``cancel`` was cancelled by a newer one."""
        return self._flow_cancel is not None and self._flow_cancel is not cancel

    def end_flow(self, cancel: asyncio.Event) -> None:
        if self._flow_cancel is cancel:
            self._flow_cancel = None
            self.pending = None

    async def aclose(self) -> None:
        if self._flow_cancel is not None:
            self._flow_cancel.set()
        if self._http is not None:
            http, self._http = self._http, None
            self._oauth = None
            self._tokens = None
            await http.aclose()
