"""Where a settings scope keeps credentials, and storing or forgetting them there: the
API key in the scope's .env file, the auth type, model and Coding Plan providers in
its settings.json, written the way the Qwen Code CLI reads them. Blocking (files and
git): call from the event loop through ``asyncio.to_thread``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values

from qwen_ls.auth.apikey import (
    CODING_PLAN_BASE_URL,
    CODING_PLAN_ENV_KEY,
    CODING_PLAN_MODEL,
    CODING_PLAN_MODELS,
    KeyNotStored,
    store_api_key,
    store_env_values,
)
from qwen_ls.config import settings as settings_file
from qwen_ls.config.edit import remove_setting, set_setting
from qwen_ls.config.files import read_file

ScopeName = Literal["workspace", "user"]

OPENAI_KEY_VAR = "OPENAI_API_KEY"
OPENAI_BASE_VAR = "OPENAI_BASE_URL"
SELECTED_TYPE = "security.auth.selectedType"
MODEL_NAME = "model.name"
PROVIDERS = ("modelProviders", "openai")
CODING_PLAN_DESCRIPTION = "Alibaba Cloud Coding Plan"


@dataclass(frozen=True)
class Scope:
    """The files one settings scope reads credentials from."""

    name: ScopeName
    env_file: Path
    settings_file: Path
    folder: Path | None
    """The workspace folder (whose git repository must not get the key); None for
    the user scope."""

    @classmethod
    def user(cls, home: Path) -> Scope:
        qwen = home / ".qwen"
        return cls("user", qwen / ".env", qwen / "settings.json", None)

    @classmethod
    def workspace(cls, folder: Path) -> Scope:
        qwen = folder / ".qwen"
        return cls("workspace", qwen / ".env", qwen / "settings.json", folder)

    def label(self) -> str:
        if self.folder is None:
            return "user level"
        return f"workspace {self.folder}"


def store_openai_key(
    scope: Scope, key: str, *, base_url: str | None, model: str | None
) -> list[str]:
    """Store an OpenAI-compatible key (and base URL, model) and select ``openai``
    (the Qwen Code CLI infers it from a key only when a model and a base URL are
    set too); the messages for the user. Coding Plan providers of this scope are
    removed: they would route the model elsewhere."""
    values: dict[str, str | None] = {OPENAI_KEY_VAR: key}
    if base_url:
        values[OPENAI_BASE_VAR] = base_url
    messages = store_api_key(scope.env_file, values, workspace=scope.folder).messages

    data = _settings(scope.settings_file)
    entries = _provider_entries(data)
    removed_ids = [e.get("id") for e in entries if _is_coding_plan(e)]
    if removed_ids:
        kept = [e for e in entries if not _is_coding_plan(e)]
        if kept:
            set_setting(scope.settings_file, PROVIDERS, kept)
        else:
            # An empty list here would hide the user's own providers as well.
            remove_setting(scope.settings_file, PROVIDERS)
        messages.append(
            f"Removed the Coding Plan models from modelProviders.openai in "
            f"{scope.settings_file}."
        )
    if model:
        set_setting(scope.settings_file, MODEL_NAME, model)
        messages.append(f"Set model.name to {model} in {scope.settings_file}.")
    elif removed_ids and settings_file.get(data, MODEL_NAME) in removed_ids:
        remove_setting(scope.settings_file, MODEL_NAME)
        messages.append(
            f"Removed model.name (a Coding Plan model) from {scope.settings_file}."
        )
    if settings_file.get(data, SELECTED_TYPE) != "openai":
        messages.append(select_auth_type(scope, "openai"))
    return messages


def store_coding_plan_key(
    scope: Scope, key: str, *, base_url: str | None, model: str | None
) -> list[str]:
    """Store a Coding Plan key as the CLI's ``qwen auth coding-plan`` does, except
    that the key goes to the scope's .env file rather than into settings.json: the
    key in ``BAILIAN_CODING_PLAN_API_KEY``, and in settings the Coding Plan models
    (``envKey`` naming that variable) first in ``modelProviders.openai``, the model
    in ``model.name`` and ``openai`` as the auth type."""
    base = base_url or CODING_PLAN_BASE_URL
    chosen = model or CODING_PLAN_MODEL
    messages = store_api_key(
        scope.env_file, {CODING_PLAN_ENV_KEY: key}, workspace=scope.folder
    ).messages

    entries = _provider_entries(_settings(scope.settings_file))
    kept = [e for e in entries if not _is_coding_plan(e)]
    set_setting(
        scope.settings_file, PROVIDERS, coding_plan_providers(base, chosen) + kept
    )
    set_setting(scope.settings_file, MODEL_NAME, chosen)
    set_setting(scope.settings_file, SELECTED_TYPE, "openai")
    messages.append(
        f"Coding Plan ({base}) with model {chosen} set in {scope.settings_file} "
        "(modelProviders.openai, model.name, security.auth.selectedType)."
    )
    return messages


def coding_plan_providers(base_url: str, first: str) -> list[dict[str, Any]]:
    """The Coding Plan models as ``modelProviders.openai`` entries, ``first`` first."""
    ids = [first, *(m for m in CODING_PLAN_MODELS if m != first)]
    return [
        {
            "id": model,
            "name": model,
            "description": CODING_PLAN_DESCRIPTION,
            "baseUrl": base_url,
            "envKey": CODING_PLAN_ENV_KEY,
        }
        for model in ids
    ]


def select_auth_type(scope: Scope, auth_type: str) -> str:
    """Set ``security.auth.selectedType``; the message for the user."""
    set_setting(scope.settings_file, SELECTED_TYPE, auth_type)
    return f"Set security.auth.selectedType to {auth_type} in {scope.settings_file}."


def forget_keys(scope: Scope, also: Sequence[str] = ()) -> list[str]:
    """Remove the API keys this scope stores: the key variables (``OPENAI_API_KEY``,
    ``BAILIAN_CODING_PLAN_API_KEY``, every provider's ``envKey`` and the names in
    ``also``) from its .env file and from its settings' ``env`` object, and
    ``security.auth.apiKey``. Returns a description of each removal."""
    data = _settings(scope.settings_file)
    names = list(dict.fromkeys([*_key_variables(data), *also]))
    removed: list[str] = []

    present = _env_names(scope.env_file)
    for name in names:
        if name in present and store_env_values(scope.env_file, {name: None}):
            removed.append(f"{name} in {scope.env_file}")

    env = data.get("env")
    for name in names:
        if isinstance(env, dict) and name in env:
            remove_setting(scope.settings_file, ["env", name])
            removed.append(f"env.{name} in {scope.settings_file}")
    if settings_file.has(data, "security.auth.apiKey"):
        remove_setting(scope.settings_file, "security.auth.apiKey")
        removed.append(f"security.auth.apiKey in {scope.settings_file}")
    return removed


def _settings(path: Path) -> dict[str, Any]:
    """The data of one settings file; empty when absent or unreadable (a write
    would then fail with SettingsNotWritable and say why)."""
    return settings_file.load(read_file(path), path, "user").data


def _provider_entries(data: dict[str, Any]) -> list[Any]:
    providers = data.get("modelProviders")
    if not isinstance(providers, dict):
        return []
    entries = providers.get("openai")
    return list(entries) if isinstance(entries, list) else []


def _is_coding_plan(entry: Any) -> bool:
    # The CLI also requires one of its two base URLs; a Coding Plan entry pointed
    # at another URL (a proxy) is still one of ours to replace.
    return isinstance(entry, dict) and entry.get("envKey") == CODING_PLAN_ENV_KEY


def _key_variables(data: dict[str, Any]) -> list[str]:
    names = [OPENAI_KEY_VAR, CODING_PLAN_ENV_KEY]
    providers = data.get("modelProviders")
    if isinstance(providers, dict):
        for entries in providers.values():
            for entry in entries if isinstance(entries, list) else []:
                key = entry.get("envKey") if isinstance(entry, dict) else None
                if isinstance(key, str) and settings_file.VARIABLE_NAME.fullmatch(key):
                    names.append(key)
    return list(dict.fromkeys(names))


def _env_names(env_file: Path) -> set[str]:
    if not env_file.is_file():
        return set()
    try:
        return set(dotenv_values(env_file, interpolate=False))
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyNotStored(f"cannot read {env_file}: {exc}") from exc
