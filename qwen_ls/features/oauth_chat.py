"""Chats under Qwen OAuth: the access token is fetched for each request (refreshed
ahead of expiry) and sent only to the host of the credentials' ``resource_url``.
A 401/403 gets one forced refresh and one retry, never more; a closed free tier or
refused credentials end in an ``auth`` error that says what to do instead."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncGenerator, Callable

from qwen_ls.auth import OAuthCredentials, OAuthError
from qwen_ls.auth.session import OAuthBaseUrlError, OAuthSession
from qwen_ls.auth.tokens import SIGNED_OUT as TOKENS_SIGNED_OUT
from qwen_ls.config import chat_completions_url
from qwen_ls.llm import (
    AuthError,
    ChatClient,
    ChatRequest,
    ConfigError,
    LLMError,
    NetworkError,
    RateLimitError,
    ServerError,
    StreamEvent,
)

logger = logging.getLogger(__name__)

# What DashScope's portal answers once the free tier is closed for an account.
_CLOSED_TIER = re.compile(
    r"free allocated quota exceeded|insufficient_quota|discontinued", re.IGNORECASE
)
SWITCH = (
    "switch to Alibaba Cloud Coding Plan or an API key: run the qwen.auth command "
    "with method coding-plan or openai (or `qwen-ls login --method coding-plan`)"
)
SIGNED_OUT = (
    "Qwen OAuth sign-in expired and could not be renewed; sign in again with the "
    "qwen.auth command or `qwen-ls login`"
)


def is_closed_tier(error: LLMError) -> bool:
    """A 401/403/429 saying the free Qwen OAuth tier is over for this account."""
    if error.status not in (401, 403, 429):
        return False
    return bool(_CLOSED_TIER.search(f"{error.message} {error.code}"))


class OAuthChatClient:
    """A ChatClient for one Qwen OAuth request at a time; ``on_signed_out`` hears
    the message when the credentials stop working (to tell the user once and
    update every folder's status)."""

    def __init__(
        self,
        chat: ChatClient,
        session: OAuthSession,
        on_signed_out: Callable[[str], None],
    ) -> None:
        self._chat = chat
        self._session = session
        self._on_signed_out = on_signed_out

    async def stream_chat(self, req: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        creds = await self._access()
        try:
            async for event in self._chat.stream_chat(self._authorized(req, creds)):
                yield event
            return
        except (AuthError, RateLimitError) as error:
            if is_closed_tier(error):
                raise self._closed_tier(creds, error) from None
            if not isinstance(error, AuthError):
                raise
            logger.info("Qwen OAuth token refused (HTTP %s); refreshing", error.status)

        creds = await self._access(force=True, rejected=creds.access_token)
        try:
            async for event in self._chat.stream_chat(self._authorized(req, creds)):
                yield event
        except (AuthError, RateLimitError) as error:
            if is_closed_tier(error):
                raise self._closed_tier(creds, error) from None
            if not isinstance(error, AuthError):
                raise
            raise self._refused(creds, error) from None

    def _authorized(self, req: ChatRequest, creds: OAuthCredentials) -> ChatRequest:
        headers = {
            **req.extra_headers,
            "X-DashScope-AuthType": "qwen-oauth",
            "X-DashScope-CacheControl": "enable",
        }
        return dataclasses.replace(
            req,
            url=chat_completions_url(creds.base_url()),
            api_key=creds.access_token,
            extra_headers=headers,
        )

    async def _access(
        self, *, force: bool = False, rejected: str | None = None
    ) -> OAuthCredentials:
        try:
            creds = await self._session.tokens.access(
                force_refresh=force, rejected_token=rejected
            )
        except OAuthBaseUrlError as exc:
            raise ConfigError(str(exc)) from None
        except OAuthError as exc:
            raise self._refresh_failed(exc) from None
        refused = self._session.refusal_for(creds.access_token)
        if refused is not None:
            raise AuthError(refused)
        return creds

    def _refresh_failed(self, exc: OAuthError) -> LLMError:
        if exc.kind in ("signedOut", "discontinued"):
            message = SIGNED_OUT if str(exc) == TOKENS_SIGNED_OUT else str(exc)
            used = self._session.peek()
            if used is not None:  # still on disk (not removable, or never valid)
                self._session.refuse(used.access_token, message)
            self._on_signed_out(message)
            return AuthError(message, status=exc.status)
        if exc.kind == "network":
            return NetworkError(str(exc))
        if exc.kind == "rateLimit":
            return RateLimitError(
                str(exc), status=exc.status, retry_after=exc.retry_after
            )
        return ServerError(str(exc), status=exc.status)

    def _closed_tier(self, creds: OAuthCredentials, error: LLMError) -> AuthError:
        message = (
            f"{error.message}. The free Qwen OAuth tier has ended for this account; "
            + SWITCH
        )
        self._session.refuse(creds.access_token, message)
        self._on_signed_out(message)
        return AuthError(message, status=error.status, code=error.code)

    def _refused(self, creds: OAuthCredentials, error: LLMError) -> AuthError:
        """A freshly refreshed token was refused too (B33): stop, and fail fast
        until the credentials change, instead of refreshing on every request."""
        message = (
            f"{error.message}. A fresh Qwen OAuth token was refused as well: your "
            "account may no longer have access via Qwen OAuth; " + SWITCH
        )
        self._session.refuse(creds.access_token, message)
        self._on_signed_out(message)
        return AuthError(message, status=error.status, code=error.code)
