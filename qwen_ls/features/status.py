"""What a folder's configuration amounts to: the endpoint a chat would use, the
`qwen.status` answer, and the `qwen/status` notification."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from qwen_ls.config import ResolvedConfig, chat_completions_url
from qwen_ls.llm import ConfigError


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
        raise ConfigError(
            _with_problems(
                f"{label}: no API key and no sign-in found. Set OPENAI_API_KEY "
                f"(and OPENAI_BASE_URL) in {_env_hint(cfg)}, or sign in.",
                cfg,
            )
        )
    if cfg.auth_type.value != "openai":
        raise ConfigError(
            f"{label}: auth type {cfg.auth_type.value!r} (from "
            f"{cfg.auth_type.source.description}) is not supported by this version; "
            "use an API key: set OPENAI_API_KEY and OPENAI_BASE_URL in .qwen/.env"
        )
    if cfg.base_url is None:
        raise ConfigError(_with_problems(f"{label}: no usable base URL.", cfg))
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
    problems = list(cfg.problems)
    try:
        endpoint_for(cfg)
    except ConfigError as exc:
        first = str(exc).split("\n", 1)[0]
        if first not in problems:
            problems.insert(0, first)
    return problems


def _env_hint(cfg: ResolvedConfig) -> str:
    if cfg.env_file is not None:
        return str(cfg.env_file)
    if cfg.workspace_folder is not None:
        return str(cfg.workspace_folder / ".qwen" / ".env")
    return "~/.qwen/.env"


def _with_problems(message: str, cfg: ResolvedConfig) -> str:
    if not cfg.problems:
        return message
    return message + "\n" + "\n".join(f"- {p}" for p in cfg.problems)
