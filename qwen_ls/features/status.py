"""What a folder's configuration amounts to: the endpoint a chat would use, the
`qwen.status` answer, and the `qwen/status` notification."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from qwen_ls.config import ResolvedConfig, chat_completions_url
from qwen_ls.llm import ConfigError, LLMError


@dataclass(frozen=True)
class Endpoint:
    url: str
    api_key: str | None
    model: str
    extra_body: dict[str, Any]


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
        root = (
            cfg.problems[0]
            if cfg.problems
            else (
                f"no API key and no sign-in found. Set OPENAI_API_KEY (and "
                f"OPENAI_BASE_URL) in {_env_hint(cfg)}, or sign in"
            )
        )
        raise ConfigError(_with_problems(f"{label}: {root}", cfg, skip=root))
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
    )
    explained.kind = exc.kind
    return explained


def signed_in(cfg: ResolvedConfig) -> bool:
    try:
        endpoint_for(cfg)
    except ConfigError:
        return False
    return True


def status_result(cfg: ResolvedConfig, folder_uri: str | None) -> dict[str, Any]:
    sources = {
        "authType": cfg.auth_type.source.description if cfg.auth_type else None,
        "model": cfg.model.source.description,
        "baseUrl": cfg.base_url.source.description if cfg.base_url else None,
        "apiKey": cfg.api_key.source.description if cfg.api_key else None,
    }
    return {
        "workspaceFolder": folder_uri,
        "authType": cfg.auth_type.value if cfg.auth_type else None,
        "model": cfg.model.value,
        "baseUrl": cfg.base_url.value if cfg.base_url else None,
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
        "model": cfg.model.value,
        "signedIn": signed_in(cfg),
        "problems": problems_of(cfg),
    }


def problems_of(cfg: ResolvedConfig) -> list[str]:
    """The configuration's problems, or why a chat would fail when they are silent."""
    if cfg.problems:
        return list(cfg.problems)
    try:
        endpoint_for(cfg)
    except ConfigError as exc:
        return [str(exc).split("\n", 1)[0]]
    return []


def _base_url_problem(cfg: ResolvedConfig) -> str:
    return next((p for p in cfg.problems if "base URL" in p or "baseUrl" in p), "")


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
