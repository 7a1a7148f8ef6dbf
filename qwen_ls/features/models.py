"""The models a workspace folder can use, and choosing one: the list gathered from
settings, sign-in and the endpoint, the question asked without a model, and where the
choice is saved."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from qwen_ls.auth.apikey import (
    CODING_PLAN_BASE_URL,
    CODING_PLAN_GLOBAL_BASE_URL,
    CODING_PLAN_MODELS,
)
from qwen_ls.config import ResolvedConfig
from qwen_ls.config.edit import SettingsNotWritable, set_setting
from qwen_ls.config.settings import get
from qwen_ls.llm import ConfigError, LLMError

if TYPE_CHECKING:
    from qwen_ls.llm import ChatClient

logger = logging.getLogger(__name__)

OPENAI = "openai"
QWEN_OAUTH = "qwen-oauth"
OAUTH_MODEL = "coder-model"
OAUTH_SOURCE = "Qwen OAuth"
CODING_PLAN_SOURCE = "Coding Plan"
CURRENT_SOURCE = "current"

MAX_CHOICES = 10
"""Actions in one window/showMessageRequest: more do not fit in most editors."""
CURRENT_MARK = "● "

LIST_TIMEOUT = 2.0
LIST_TTL = 300.0
FAILURE_TTL = 30.0

# When two sources name the same model, the earlier kind describes it best.
_RANK = {"modelProviders": 0, CODING_PLAN_SOURCE: 1, OAUTH_SOURCE: 2, "endpoint": 3}


@dataclass(frozen=True)
class ModelEntry:
    """One model of the list, as `qwen.listModels` shows it."""

    id: str
    name: str
    auth_type: str
    source: str
    base_url: str | None = None

    @property
    def rank(self) -> int:
        return _RANK.get(self.source.split(" ", 1)[0], len(_RANK))

    def as_dict(self, current: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "authType": self.auth_type,
            "source": self.source,
        }
        if self.base_url:
            result["baseUrl"] = self.base_url
        if current is not None:
            result["current"] = self.id == current
        return result


def active_auth_type(cfg: ResolvedConfig) -> str:
    return cfg.auth_type.value if cfg.auth_type is not None else OPENAI


def provider_models(cfg: ResolvedConfig) -> list[ModelEntry]:
    """The usable ``modelProviders`` entries of the merged settings for the active
    auth type."""
    auth = active_auth_type(cfg)
    entries = []
    for provider in cfg.providers.get(auth, []):
        path = provider.source.description.partition(" in ")[2]
        entries.append(
            ModelEntry(
                id=provider.id,
                name=provider.name,
                auth_type=auth,
                source=f"modelProviders in {path}",
                base_url=provider.base_url,
            )
        )
    return entries


def oauth_models(cfg: ResolvedConfig, *, signed_in: bool) -> list[ModelEntry]:
    """The Qwen OAuth model, when that is the auth type and there is a sign-in."""
    if active_auth_type(cfg) != QWEN_OAUTH or not signed_in:
        return []
    return [
        ModelEntry(
            id=OAUTH_MODEL, name="Qwen Coder", auth_type=QWEN_OAUTH, source=OAUTH_SOURCE
        )
    ]


def coding_plan_url(cfg: ResolvedConfig) -> str | None:
    """The Coding Plan endpoint every model of this folder goes to, if it is one.

    Only when the base URL does not come from a provider entry: then a model without
    an entry of its own still reaches the Coding Plan after being chosen.
    """
    if active_auth_type(cfg) != OPENAI or cfg.base_url is None:
        return None
    if cfg.provider is not None and cfg.provider.base_url:
        return None
    url = cfg.base_url.value.rstrip("/")
    return url if url in (CODING_PLAN_BASE_URL, CODING_PLAN_GLOBAL_BASE_URL) else None


def coding_plan_models(cfg: ResolvedConfig) -> list[ModelEntry]:
    url = coding_plan_url(cfg)
    if url is None:
        return []
    return [
        ModelEntry(
            id=model,
            name=model,
            auth_type=OPENAI,
            source=CODING_PLAN_SOURCE,
            base_url=url,
        )
        for model in CODING_PLAN_MODELS
    ]


def endpoint_models(ids: Iterable[str], base_url: str) -> list[ModelEntry]:
    """The ids ``GET <base_url>/models`` listed, as entries."""
    host = urlsplit(base_url).netloc.rpartition("@")[2]
    source = f"endpoint {host}/models"
    return [
        ModelEntry(id=i, name=i, auth_type=OPENAI, source=source, base_url=base_url)
        for i in ids
    ]


def current_model(cfg: ResolvedConfig) -> ModelEntry:
    return ModelEntry(
        id=cfg.model.value,
        name=cfg.model.value,
        auth_type=active_auth_type(cfg),
        source=CURRENT_SOURCE,
        base_url=cfg.base_url.value if cfg.base_url is not None else None,
    )


def merge(entries: Iterable[ModelEntry]) -> list[ModelEntry]:
    """One entry per (id, authType), in order of first appearance.

    Of duplicates, the one from the most specific source is kept (settings, then
    Coding Plan, Qwen OAuth, the endpoint, the current model); a display name it
    lacks is taken from another.
    """
    kept: dict[tuple[str, str], ModelEntry] = {}
    for entry in entries:
        key = (entry.id, entry.auth_type)
        old = kept.get(key)
        if old is None:
            kept[key] = entry
            continue
        best, other = (entry, old) if entry.rank < old.rank else (old, entry)
        if best.name == best.id and other.name != other.id:
            best = replace(best, name=other.name)
        kept[key] = best
    return list(kept.values())


Lister = Callable[[str, "str | None"], Awaitable["list[str] | None"]]


async def list_models(
    cfg: ResolvedConfig,
    *,
    oauth_signed_in: bool,
    endpoint: tuple[str, str | None] | None,
    lister: Lister | None,
) -> list[ModelEntry]:
    """Everything a folder may choose from, merged; ``endpoint`` (base URL, key) is
    asked for its models through ``lister`` when given."""
    entries = [
        *provider_models(cfg),
        *coding_plan_models(cfg),
        *oauth_models(cfg, signed_in=oauth_signed_in),
    ]
    if endpoint is not None and lister is not None:
        ids = await lister(*endpoint)
        entries.extend(endpoint_models(ids or [], endpoint[0]))
    if cfg.auth_type is not None:
        # With no credentials at all there is no current model to offer: an empty
        # list tells the editor to offer sign-in instead.
        entries.append(current_model(cfg))
    return merge(entries)


class ModelListCache:
    """What ``GET <base>/models`` answered, per endpoint (base URL and which key),
    so that a list is asked once in a while, and a dead endpoint is not waited for
    on every call."""

    def __init__(
        self,
        *,
        ttl: float = LIST_TTL,
        failure_ttl: float = FAILURE_TTL,
        timeout: float = LIST_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self.timeout = timeout
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, list[str] | None]] = {}

    async def ids(
        self, client: ChatClient, base_url: str, api_key: str | None
    ) -> list[str] | None:
        """The listed ids; None when the endpoint has no list or cannot be reached."""
        key = (base_url.rstrip("/"), key_identity(api_key))
        now = self._clock()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]

        host = urlsplit(base_url).netloc.rpartition("@")[2]
        try:
            ids = await client.list_models(base_url, api_key, timeout=self.timeout)
        except LLMError as exc:
            logger.info("no model list from %s (%s): %s", host, exc.kind, exc)
            self._entries[key] = (now + self.failure_ttl, None)
            return None
        if ids is None:
            logger.info("%s has no /models route; listing configured models only", host)
        self._entries[key] = (now + self.ttl, ids)
        return ids

    def clear(self) -> None:
        self._entries.clear()


def key_identity(api_key: str | None) -> str:
    """Tells keys apart without holding or logging the key itself."""
    if api_key is None:
        return "-"
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


# -- choosing -------------------------------------------------------------------


def choices(
    entries: list[ModelEntry], current: str
) -> tuple[dict[str, ModelEntry], int]:
    """Action titles for the question (at most MAX_CHOICES, the current one always
    among them and marked) and how many entries were left out."""
    shown = entries[:MAX_CHOICES]
    in_list = [e for e in entries if e.id == current]
    if in_list and in_list[0] not in shown:
        shown = [*shown[: MAX_CHOICES - 1], in_list[0]]
    titles: dict[str, ModelEntry] = {}
    for entry in shown:
        title = entry.name if entry.name == entry.id else f"{entry.name} ({entry.id})"
        if entry.id == current:
            title = CURRENT_MARK + title
        while title in titles:
            title = f"{title} [{entry.auth_type}]"
        titles[title] = entry
    return titles, len(entries) - len(shown)


def question(folder_label: str, current: str, left_out: int) -> str:
    text = f"Choose the model for {folder_label} (now: {current})."
    if left_out:
        text += (
            f" {left_out} more not shown: give the model by name "
            "(qwen.selectModel with model, :QwenModel NAME)."
        )
    return text


@dataclass(frozen=True)
class Target:
    """The settings file a choice is written to."""

    path: Path
    scope: str
    notes: tuple[str, ...] = ()


class CannotSave(Exception):
    """The choice cannot be saved where it was asked to go."""


def target(cfg: ResolvedConfig, scope: str | None) -> Target:
    """Where ``model.name`` goes: the workspace settings by default when there is a
    folder (the user settings when it is not trusted), else the user settings."""
    workspace = cfg.workspace_settings_path
    if scope == "user" or workspace is None:
        if scope == "workspace":
            raise CannotSave(
                "scope: there is no workspace folder here (or the folder is the home "
                "directory); use scope user"
            )
        return Target(cfg.user_settings_path, "user")
    if cfg.trusted:
        return Target(workspace, "workspace")
    if scope == "workspace":
        raise CannotSave(
            f"scope: workspace {cfg.workspace_folder} is not trusted, so its "
            f"{workspace} is not read; use scope user, or trust the folder in "
            "~/.qwen/trustedFolders.json"
        )
    note = (
        f"saved in the user settings: workspace {cfg.workspace_folder} is not trusted, "
        "so its own settings are not read"
    )
    return Target(cfg.user_settings_path, "user", (note,))


def save(chosen: Target, model: str) -> None:
    """Write ``model.name`` into the target's settings file, comments kept."""
    try:
        set_setting(chosen.path, "model.name", model)
    except SettingsNotWritable as exc:
        raise ConfigError(f"the model was not saved: {exc}") from None


def shadowed_by(cfg: ResolvedConfig, chosen: Target) -> str | None:
    """The workspace setting that outranks a choice saved in the user settings."""
    if chosen.scope != "user" or not cfg.trusted:
        return None
    workspace = cfg.workspace_settings_path
    if (
        workspace is None
        or cfg.model.source.description != f"model.name in {workspace}"
    ):
        return None
    value = get(cfg.settings, "model.name")
    return (
        f"model.name in {workspace} ({value}) outranks the user settings, so this "
        "folder keeps that model: choose with scope workspace, or remove it there"
    )


def editor_outranks(editor_model: str, model: str) -> str:
    """What a choice overriding the editor's own qwen.model for the session means."""
    return (
        f"the editor setting qwen.model ({editor_model}) outranks settings files: "
        f"{model} is used until the server restarts, then the editor's model applies "
        f"again; clear qwen.model in the editor's settings to keep {model}"
    )
