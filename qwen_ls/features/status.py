"""What a folder's configuration amounts to: the endpoint a chat would use, the
`qwen.status` answer, and the `qwen/status` notification."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from qwen_ls.config import ResolvedConfig, chat_completions_url
from qwen_ls.llm import AuthError, ConfigError, LLMError

QWEN_OAUTH = "qwen-oauth"
OAUTH_MODEL = "coder-model"


@dataclass(frozen=True)
class Endpoint:
    url: str
    api_key: str | None
    model: str
    extra_body: dict[str, Any]
    auth_type: str = "openai"
    """``qwen-oauth``: ``api_key`` is None and the access token is fetched (and
    refreshed) when the request is sent, see features/oauth_chat.py."""


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def folder_label(cfg: ResolvedConfig) -> str:
    if cfg.workspace_folder is None:
        return "no workspace folder (user level)"
    return f"workspace {cfg.workspace_folder}"


def endpoint_for(cfg: ResolvedConfig, model: str | None = None) -> Endpoint:
    """The OpenAI-compatible endpoint a chat of this folder goes to, or a
    `ConfigError` saying what to set, and where."""
    label = folder_label(cfg)
    if cfg.auth_type is None:
        pending = cfg.oauth.pending if cfg.oauth is not None else None
        if pending is not None:
            raise ConfigError(f"{label}: not signed in yet; {pending}.")
        root = (
            cfg.problems[0]
            if cfg.problems
            else (
                f"no API key and no sign-in found. Set OPENAI_API_KEY (and "
                f"OPENAI_BASE_URL) in {_env_hint(cfg)}, or sign in"
            )
        )
        first = root if label.removeprefix("workspace ") in root else f"{label}: {root}"
        raise ConfigError(_with_problems(first, cfg, skip=root))
    if cfg.auth_type.value == QWEN_OAUTH:
        return _oauth_endpoint(cfg, label)
    if cfg.auth_type.value != "openai":
        raise ConfigError(
            f"{label}: auth type {cfg.auth_type.value!r} (from "
            f"{cfg.auth_type.source.description}) is not supported by this version; "
            "use an API key: set OPENAI_API_KEY and OPENAI_BASE_URL in .qwen/.env"
        )
    if cfg.base_url is None:
        reason = next(
            (p for p in cfg.problems if "base URL" in p or "baseUrl" in p), ""
        )
        raise ConfigError(
            _with_problems(f"{label}: no usable base URL: {reason}", cfg, skip=reason)
        )
    key = cfg.api_key.value.get_secret_value() if cfg.api_key else None
    if key is None and not is_loopback(cfg.base_url.value):
        raise ConfigError(
            _with_problems(
                f"{label}: {cfg.api_key_var} is not set. Add it to "
                f"{_env_hint(cfg)} or the environment of the editor.",
                cfg,
            )
        )
    generation = cfg.provider.generation_config if cfg.provider else {}
    extra_body = dict(generation.get("samplingParams") or {})
    extra_body.update(generation.get("extra_body") or {})
    return Endpoint(
        url=chat_completions_url(cfg.base_url.value),
        api_key=key,
        model=model or cfg.model.value,
        extra_body=extra_body,
    )


def explain_failure(exc: LLMError, cfg: ResolvedConfig) -> LLMError:
    """The same failure, saying which workspace and, for a refused key, which key."""
    message = f"{folder_label(cfg)}: {exc.message}"
    if exc.kind == "auth" and cfg.api_key is not None:
        message += (
            f" — the key sent was {cfg.masked_api_key()} from "
            f"{cfg.api_key.source.description}; check or replace it"
        )
    explained = type(exc)(
        message,
        status=exc.status,
        retry_after=exc.retry_after,
        partial_text=exc.partial_text,
        code=exc.code,
    )
    explained.kind = exc.kind
    return explained


def _oauth_endpoint(cfg: ResolvedConfig, label: str) -> Endpoint:
    """Where a Qwen OAuth chat goes: the host of the credentials' ``resource_url``,
    never a base URL from configuration, and always with ``coder-model``."""
    oauth = cfg.oauth
    if oauth is None or not oauth.signed_in or oauth.base_url is None:
        reason = oauth.problem if oauth is not None else None
        if oauth is not None and oauth.rejected:
            raise AuthError(f"{label}: {reason}")
        raise ConfigError(
            f"{label}: Qwen OAuth is selected "
            f"({cfg.auth_type.source.description if cfg.auth_type else 'default'}) "
            f"but {reason or 'not signed in'}. Sign in with the qwen.auth command "
            "(or `qwen-ls login`), or choose Coding Plan or an API key."
        )
    return Endpoint(
        url=chat_completions_url(oauth.base_url),
        api_key=None,
        model=OAUTH_MODEL,
        extra_body={},
        auth_type=QWEN_OAUTH,
    )


def is_oauth(cfg: ResolvedConfig) -> bool:
    return cfg.auth_type is not None and cfg.auth_type.value == QWEN_OAUTH


def effective_model(cfg: ResolvedConfig) -> str:
    """The model a chat uses: under Qwen OAuth always coder-model."""
    return OAUTH_MODEL if is_oauth(cfg) else cfg.model.value


def signed_in(cfg: ResolvedConfig) -> bool:
    try:
        endpoint_for(cfg)
    except LLMError:
        return False
    return True


def status_result(cfg: ResolvedConfig, folder_uri: str | None) -> dict[str, Any]:
    sources = {
        "authType": cfg.auth_type.source.description if cfg.auth_type else None,
        "model": cfg.model.source.description,
        "baseUrl": cfg.base_url.source.description if cfg.base_url else None,
        "apiKey": cfg.api_key.source.description if cfg.api_key else None,
    }
    base_url = cfg.base_url.value if cfg.base_url else None
    if is_oauth(cfg) and cfg.oauth is not None:
        creds = cfg.oauth.creds_file
        base_url = cfg.oauth.base_url
        sources["baseUrl"] = f"resource_url in {creds}" if base_url else None
        sources["apiKey"] = f"Qwen OAuth access token in {creds}"
        if cfg.model.value != OAUTH_MODEL:
            sources["model"] = (
                f"Qwen OAuth serves only {OAUTH_MODEL} ({cfg.model.value} from "
                f"{cfg.model.source.description} is not used)"
            )
    return {
        "workspaceFolder": folder_uri,
        "authType": cfg.auth_type.value if cfg.auth_type else None,
        "model": effective_model(cfg),
        "baseUrl": base_url,
        "apiKey": cfg.masked_api_key(),
        "signedIn": signed_in(cfg),
        "envFile": str(cfg.env_file) if cfg.env_file else None,
        "trusted": cfg.trusted,
        "sources": sources,
        "problems": problems_of(cfg),
    }


def status_notification(cfg: ResolvedConfig, folder_uri: str | None) -> dict[str, Any]:
    return {
        "workspaceFolder": folder_uri,
        "authType": cfg.auth_type.value if cfg.auth_type else None,
        "model": effective_model(cfg),
        "signedIn": signed_in(cfg),
        "problems": problems_of(cfg),
    }


def problems_of(cfg: ResolvedConfig) -> list[str]:
    """The configuration's problems, or why a chat would fail when they are silent;
    under Qwen OAuth also what the sign-in says."""
    problems = list(cfg.problems)
    if not problems:
        try:
            endpoint_for(cfg)
        except LLMError as exc:
            problems = [str(exc).split("\n", 1)[0]]
    if is_oauth(cfg):
        notes = _oauth_notes(cfg)
    elif cfg.auth_type is None and cfg.oauth is not None and cfg.oauth.pending:
        notes = [cfg.oauth.pending]
    else:
        notes = []
    problems.extend(note for note in notes if not any(note in p for p in problems))
    return problems


def _base_url_problem(cfg: ResolvedConfig) -> str:
    return next((p for p in cfg.problems if "base URL" in p or "baseUrl" in p), "")


def _oauth_notes(cfg: ResolvedConfig) -> list[str]:
    notes = []
    if cfg.model.value != OAUTH_MODEL:
        notes.append(
            f"model {cfg.model.value} (from {cfg.model.source.description}) is not "
            f"available with Qwen OAuth; using {OAUTH_MODEL}"
        )
    oauth = cfg.oauth
    if oauth is not None and oauth.problem:
        notes.append(oauth.problem)
    return notes


def _env_hint(cfg: ResolvedConfig) -> str:
    if cfg.env_file is not None:
        return str(cfg.env_file)
    if cfg.workspace_folder is not None:
        return str(cfg.workspace_folder / ".qwen" / ".env")
    return "~/.qwen/.env"


def _with_problems(message: str, cfg: ResolvedConfig, skip: str = "") -> str:
    others = [p for p in cfg.problems if p != skip]
    if not others:
        return message
    return message + "\n" + "\n".join(f"- {p}" for p in others)
