"""Signing in from the editor: the Qwen OAuth device flow (the page opened with
window/showDocument, or shown in a message), API keys stored where a settings scope
reads them, and signing out. Every change takes effect on the next request."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from qwen_ls.auth import (
    CODING_PLAN_BASE_URL,
    CODING_PLAN_ENV_KEY,
    CredentialsError,
    CredentialsNotSaved,
    KeyNotStored,
    OAuthCredentials,
    credentials_from_token,
    validate_api_key,
    validate_coding_plan_key,
)
from qwen_ls.auth.scopes import (
    Scope,
    forget_keys,
    select_auth_type,
    store_coding_plan_key,
    store_openai_key,
)
from qwen_ls.config import ResolvedConfig
from qwen_ls.config.edit import SettingsNotWritable
from qwen_ls.config.urls import base_url_problem
from qwen_ls.features.args import AuthArgs, InvalidArguments, LogoutArgs
from qwen_ls.features.status import (
    OAUTH_MODEL,
    QWEN_OAUTH,
    effective_model,
    folder_label,
    is_oauth,
    signed_in,
)
from qwen_ls.llm import (
    AuthError,
    ConfigError,
    LLMError,
    NetworkError,
    RateLimitError,
    ServerError,
)
from qwen_ls.log import remember_secret
from qwen_ls.progress import RequestProgress

if TYPE_CHECKING:
    from qwen_ls.auth.oauth import DeviceAuthorization, OAuthError, QwenOAuth
    from qwen_ls.auth.session import OAuthSession
    from qwen_ls.server import QwenLanguageServer

logger = logging.getLogger(__name__)

OPENAI = "openai"
CODING_PLAN = "coding-plan"
SHOW_DOCUMENT_TIMEOUT = 5.0
METHOD_ACTIONS = {
    "Qwen OAuth": QWEN_OAUTH,
    "API key": OPENAI,
    "Coding Plan": CODING_PLAN,
}
PROGRESS_TITLE = "Qwen sign-in"
WAITING = "Waiting for sign-in in your browser"


@dataclass(frozen=True)
class Target:
    """The folder a sign-in is for, and the scope whose files it changes."""

    folder_uri: str | None
    folder: Path | None
    scope: Scope


def target(ls: QwenLanguageServer, uri: str | None, scope: str | None) -> Target:
    """The folder ``uri`` selects, and the scope: as asked, else the workspace when
    there is a folder, else the user level."""
    folder_uri = ls.folder_for(uri)
    path = to_fs_path(folder_uri) if folder_uri else None
    folder = Path(path) if path else None
    name = scope or ("workspace" if folder is not None else "user")
    if name == "user" or folder == ls.home:
        return Target(folder_uri, folder, Scope.user(ls.home))
    if folder is None:
        raise InvalidArguments(
            'scope: "workspace" needs a workspace folder, and none is open; use '
            '"user" to store the credentials for every folder'
        )
    return Target(folder_uri, folder, Scope.workspace(folder))


# -- qwen.auth ---------------------------------------------------------------------


async def sign_in(
    ls: QwenLanguageServer, args: AuthArgs, work_done_token: types.ProgressToken | None
) -> dict[str, Any]:
    where = target(ls, args.uri, args.scope)
    method: str | None = args.method
    if method is None:
        method = await ask_method(ls)
        if method is None:
            message = "No sign-in method chosen; nothing changed."
            return result(ls, where, [message], cancelled=True)
    if method == QWEN_OAUTH:
        return await oauth_sign_in(ls, args, where, work_done_token)
    return await api_key_sign_in(ls, method, args, where)


async def ask_method(ls: QwenLanguageServer) -> str | None:
    """The method the user picks with window/showMessageRequest; None if dismissed."""
    try:
        item = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message="How do you want to sign in to Qwen? (The free Qwen OAuth "
                "tier closed in April 2026; Coding Plan and API keys work.)",
                actions=[types.MessageActionItem(title=t) for t in METHOD_ACTIONS],
            )
        )
    except Exception as exc:
        logger.info("window/showMessageRequest failed: %s", exc)
        raise InvalidArguments(
            "method: missing, and this editor could not show a choice "
            '(window/showMessageRequest failed); pass method "qwen-oauth", '
            '"openai" or "coding-plan"'
        ) from None
    if item is None:
        return None
    return METHOD_ACTIONS.get(item.title)


def result(
    ls: QwenLanguageServer, where: Target, messages: list[str], **extra: Any
) -> dict[str, Any]:
    """The answer of qwen.auth: the folder's state after the sign-in."""
    cfg = ls.config_for(where.folder_uri)
    return {
        "authType": cfg.auth_type.value if cfg.auth_type else None,
        "signedIn": signed_in(cfg),
        "model": effective_model(cfg),
        "messages": messages,
        **extra,
    }


# -- Qwen OAuth --------------------------------------------------------------------


async def oauth_sign_in(
    ls: QwenLanguageServer,
    args: AuthArgs,
    where: Target,
    work_done_token: types.ProgressToken | None,
) -> dict[str, Any]:
    # The OAuth client needs httpx: loaded by the first sign-in, not at start.
    from qwen_ls.auth.oauth import OAuthError
    from qwen_ls.auth.session import OAuthBaseUrlError

    if args.api_key is not None:
        raise InvalidArguments("apiKey: Qwen OAuth takes no key; leave apiKey out")
    if args.base_url is not None:
        raise InvalidArguments(
            "baseUrl: the Qwen OAuth server is chosen only by QWEN_OAUTH_BASE_URL in "
            "the server's environment, and the model endpoint by the sign-in itself"
        )
    session = ls.oauth
    try:
        oauth = session.oauth()
    except OAuthBaseUrlError as exc:
        raise ConfigError(str(exc)) from None
    messages = []
    if args.model is not None and args.model != OAUTH_MODEL:
        messages.append(
            f"Qwen OAuth serves only {OAUTH_MODEL}; {args.model} is not used."
        )

    cancel = session.begin_flow()
    progress = RequestProgress(
        ls, work_done_token=work_done_token, partial_token=None, title=PROGRESS_TITLE
    )
    try:
        try:
            creds = await device_flow(ls, session, oauth, progress, cancel)
        finally:
            session.end_flow(cancel)
            ls.publish_statuses()
        messages.extend(await keep_credentials(ls, session, creds))
        messages.extend(await ensure_auth_type(ls, where, QWEN_OAUTH))
        messages.extend(effect_notes(ls, where, QWEN_OAUTH))
    except OAuthError as exc:
        if exc.kind != "cancelled":
            progress.end(f"Failed: {exc}")
            raise as_llm_error(exc) from None
        progress.end("Cancelled")
        if session.replaced(cancel):
            messages.append("This sign-in was replaced by a newer one.")
        messages.append("Sign-in cancelled; nothing changed.")
        return result(ls, where, messages, cancelled=True)
    finally:
        progress.end()  # $/cancelRequest, shutdown, a failure; else a no-op

    progress.end("Signed in")
    ls.publish_statuses()
    return result(ls, where, messages)


async def device_flow(
    ls: QwenLanguageServer,
    session: OAuthSession,
    oauth: QwenOAuth,
    progress: RequestProgress,
    cancel: asyncio.Event,
) -> OAuthCredentials:
    """Get a device code, show the page, poll until approved: new credentials."""
    auth, verifier = await oauth.start()
    session.pending = auth
    ls.publish_statuses()
    await progress.begin(waiting(auth), on_cancel=cancel.set)
    shown = asyncio.ensure_future(show_verification(ls, auth))
    try:
        token = await oauth.poll(
            auth,
            verifier,
            cancel=cancel,
            on_wait=lambda _pause: progress.report(waiting(auth)),
        )
    finally:
        shown.cancel()
    return credentials_from_token(token, previous=None)


def waiting(auth: DeviceAuthorization) -> str:
    started = auth.obtained_at if auth.obtained_at is not None else time.monotonic()
    left = max(0, round(started + auth.expires_in - time.monotonic()))
    return f"{WAITING} (code {auth.user_code}, {left // 60}:{left % 60:02d} left)"


def verification_text(auth: DeviceAuthorization) -> str:
    text = f"To sign in to Qwen, open {auth.verification_uri_complete} in a browser"
    if auth.verification_uri_complete != auth.verification_uri:
        return (
            f"{text} (or open {auth.verification_uri} and enter the code "
            f"{auth.user_code}), then approve the sign-in."
        )
    return f"{text}, enter the code {auth.user_code} and approve the sign-in."


def supports_show_document(ls: QwenLanguageServer) -> bool:
    # B57: the capability is an object; only {"support": true} means yes.
    window = ls.client_capabilities.window
    show = window.show_document if window is not None else None
    return show is not None and show.support is True


async def show_verification(ls: QwenLanguageServer, auth: DeviceAuthorization) -> None:
    """Open the page in the user's browser through the editor; where the editor
    cannot (no showDocument, success false, an error, no answer within 5 s), show
    the address and the code instead. The server never starts a browser itself."""
    text = verification_text(auth)
    ls.window_log_message(
        types.LogMessageParams(type=types.MessageType.Info, message=text)
    )
    if supports_show_document(ls):
        try:
            opened = await asyncio.wait_for(
                ls.window_show_document_async(
                    types.ShowDocumentParams(
                        uri=auth.verification_uri_complete, external=True
                    )
                ),
                SHOW_DOCUMENT_TIMEOUT,
            )
        except Exception as exc:  # an error answer, or none in time
            logger.info("window/showDocument failed: %s", exc or type(exc).__name__)
        else:
            if opened is not None and opened.success is True:
                return
            logger.info("window/showDocument: the editor could not open the page")
    ls.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Info, message=text)
    )


async def keep_credentials(
    ls: QwenLanguageServer, session: OAuthSession, creds: OAuthCredentials
) -> list[str]:
    """Save new credentials where the Qwen Code CLI reads them too."""
    try:
        await asyncio.to_thread(session.store.save, creds)
    except CredentialsNotSaved as exc:
        session.changed()
        session.tokens.remember(creds)
        message = str(exc)
    else:
        session.changed()
        message = (
            f"Signed in with Qwen OAuth, saved in {session.creds_file} (shared with "
            "the Qwen Code CLI and every workspace)."
        )
    ls.configs.invalidate()
    return [message]


def as_llm_error(exc: OAuthError) -> LLMError:
    """The command's error for a failed sign-in (kind as the protocol names them)."""
    if exc.kind == "network":
        return NetworkError(str(exc))
    if exc.kind == "rateLimit":
        return RateLimitError(str(exc), status=exc.status, retry_after=exc.retry_after)
    if exc.kind == "server":
        return ServerError(str(exc), status=exc.status)
    return AuthError(str(exc), status=exc.status)


# -- API keys and Coding Plan ------------------------------------------------------


async def api_key_sign_in(
    ls: QwenLanguageServer, method: str, args: AuthArgs, where: Target
) -> dict[str, Any]:
    key = (args.api_key or "").strip()
    remember_secret(key)
    if not key:
        message = how_to_supply(method, where)
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=message)
        )
        return result(ls, where, [message])
    check = validate_coding_plan_key if method == CODING_PLAN else validate_api_key
    try:
        check(key)
    except ValueError as exc:
        raise InvalidArguments(f"apiKey: {exc}") from None
    if args.base_url is not None and (reason := base_url_problem(args.base_url)):
        raise InvalidArguments(f"baseUrl: the URL {reason}")

    before = ls.config_for(where.folder_uri)
    require_trusted(before, where)
    store = store_coding_plan_key if method == CODING_PLAN else store_openai_key
    try:
        messages = await asyncio.to_thread(
            store, where.scope, key, base_url=args.base_url, model=args.model
        )
    except (KeyNotStored, SettingsNotWritable) as exc:
        raise ConfigError(str(exc)) from None
    ls.configs.invalidate()

    messages.extend(await ensure_auth_type(ls, where, OPENAI))
    expected_url = args.base_url or (
        CODING_PLAN_BASE_URL if method == CODING_PLAN else None
    )
    notes = effect_notes(ls, where, OPENAI, key=key, base_url=expected_url)
    notes.extend(shadow_note(ls, where, before))
    tracked = any(m.startswith("Warning:") for m in messages)
    ls.window_show_message(
        types.ShowMessageParams(
            type=types.MessageType.Warning
            if tracked or notes
            else types.MessageType.Info,
            message=" ".join([*messages, *notes]),
        )
    )
    ls.publish_statuses()
    return result(ls, where, [*messages, *notes])


def how_to_supply(method: str, where: Target) -> str:
    if method == CODING_PLAN:
        variable, kind = CODING_PLAN_ENV_KEY, "Coding Plan key (sk-sp-…)"
    else:
        variable, kind = "OPENAI_API_KEY", "API key"
    return (
        f"No {kind} given; nothing was stored. Pass it as the apiKey argument of "
        f"qwen.auth (your editor's sign-in command asks for it), run `qwen-ls login "
        f"--method {method}` in a terminal, or add {variable}=<your key> to "
        f"{where.scope.env_file}."
    )


def require_trusted(cfg: ResolvedConfig, where: Target) -> None:
    if where.scope.name == "workspace" and not cfg.trusted:
        raise ConfigError(
            f"{where.folder} is not a trusted folder (folder trust is on in "
            f"{cfg.user_settings_path}), so its .qwen/.env and .qwen/settings.json "
            'are not read: trust the folder, or sign in with scope "user"'
        )


async def ensure_auth_type(
    ls: QwenLanguageServer, where: Target, wanted: str
) -> list[str]:
    """Select ``wanted`` in the scope's settings when the folder would otherwise
    keep using another auth type (an explicit selectedType, or a key found)."""
    cfg = ls.config_for(where.folder_uri)
    current = cfg.auth_type
    if current is not None and current.value == wanted:
        return []
    if current is not None and current.source.level == "editor":
        return []  # effect_notes says so: a file cannot override the editor
    if where.scope.name == "workspace" and not cfg.trusted:
        return []  # its settings are not read; effect_notes says what is used
    try:
        message = await asyncio.to_thread(select_auth_type, where.scope, wanted)
    except SettingsNotWritable as exc:
        return [f"Note: could not select {wanted}: {exc}"]
    ls.configs.invalidate()
    return [message]


def effect_notes(
    ls: QwenLanguageServer,
    where: Target,
    wanted: str,
    *,
    key: str | None = None,
    base_url: str | None = None,
) -> list[str]:
    """What still keeps the folder from using the new sign-in, in plain words."""
    cfg = ls.config_for(where.folder_uri)
    label = folder_label(cfg)
    notes = []
    auth = cfg.auth_type
    if auth is None or auth.value != wanted:
        using = f"{auth.value} (from {auth.source.description})" if auth else "nothing"
        notes.append(f"Note: {label} still uses {using}.")
        return notes
    if key is not None:
        found = cfg.api_key
        if found is None:
            notes.append(f"Note: {label} does not read the stored key.")
        elif found.value.get_secret_value() != key:
            notes.append(
                f"Note: {label} uses another key, from {found.source.description}, "
                f"which takes precedence over {where.scope.env_file}."
            )
    used = cfg.base_url
    if (
        base_url is not None
        and used is not None
        and used.value.rstrip("/") != base_url.rstrip("/")
    ):
        notes.append(
            f"Note: {label} sends requests to {used.value} (from "
            f"{used.source.description}), not to {base_url}."
        )
    return notes


def shadow_note(
    ls: QwenLanguageServer, where: Target, before: ResolvedConfig
) -> list[str]:
    """A new .env file hides the one read before: only one .env file is read."""
    after = ls.config_for(where.folder_uri)
    old = before.env_file
    if old is None or old == after.env_file or after.env_file != where.scope.env_file:
        return []
    return [
        f"Note: {where.scope.env_file} is now read instead of {old} (only one .env "
        f"file is read): move any other settings you keep in {old} into it."
    ]


# -- qwen.logout -------------------------------------------------------------------


async def sign_out(ls: QwenLanguageServer, args: LogoutArgs) -> dict[str, Any]:
    """Forget the credentials of a scope: its stored keys, and for the user scope
    (or, without a scope, when the folder uses it) the Qwen OAuth sign-in."""
    where = target(ls, args.uri, args.scope)
    cfg = ls.config_for(where.folder_uri)
    session = ls.oauth
    removed: list[str] = []

    with_oauth = where.scope.name == "user" or (args.scope is None and is_oauth(cfg))
    also = [p.env_key for ps in cfg.providers.values() for p in ps if p.env_key]
    try:
        if with_oauth and await asyncio.to_thread(session.store.clear):
            removed.append(
                f"the Qwen OAuth sign-in in {session.creds_file} (per user: every "
                "workspace and the Qwen Code CLI share it)"
            )
        removed.extend(await asyncio.to_thread(forget_keys, where.scope, also))
    except (CredentialsError, KeyNotStored, SettingsNotWritable) as exc:
        raise ConfigError(str(exc)) from None
    finally:
        if with_oauth:
            session.changed()
        ls.configs.invalidate()
        ls.publish_statuses()

    after = ls.config_for(where.folder_uri)
    messages = [
        f"Removed {'; '.join(removed)}."
        if removed
        else f"No stored credentials to remove ({where.scope.label()})."
    ]
    if signed_in(after):
        messages.append(f"Still signed in: {still_signed_in(after, where)}.")
    ls.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Info, message=" ".join(messages))
    )
    return {
        "removed": removed,
        "signedIn": signed_in(after),
        "authType": after.auth_type.value if after.auth_type else None,
        "model": effective_model(after),
        "messages": messages,
    }


def still_signed_in(cfg: ResolvedConfig, where: Target) -> str:
    if is_oauth(cfg):
        return (
            'Qwen OAuth sign-ins are per user; sign out with scope "user" to remove it'
        )
    if cfg.api_key is not None:
        return f"the API key from {cfg.api_key.source.description} is still used"
    base = cfg.base_url.value if cfg.base_url is not None else "a local server"
    return f"{base} needs no key"
