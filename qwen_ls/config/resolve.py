"""Resolve the effective configuration of one workspace folder: which auth type, model,
base URL and key a chat would use, where each came from, and what stops it working."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, Literal

from pydantic import SecretStr

from qwen_ls.config import envfile, settings, trust
from qwen_ls.config.envfile import AppliedEnv, EnvSearch
from qwen_ls.config.files import FileRead, FileReader
from qwen_ls.config.model import (
    EditorSettings,
    Provider,
    ResolvedConfig,
    Source,
    Sourced,
)
from qwen_ls.config.settings import Scopes, SettingsFile
from qwen_ls.config.urls import base_url_problem, is_loopback

OPENAI = "openai"
QWEN_OAUTH = "qwen-oauth"
AUTH_TYPES = (OPENAI, QWEN_OAUTH)
DEFAULT_MODELS = {OPENAI: "qwen3-coder-plus", QWEN_OAUTH: "coder-model"}
DEFAULT_BASE_URL = "https://api.openai.com/v1"
API_KEY_VAR = "OPENAI_API_KEY"

_DEFAULT = Source(description="default", level="default")

_UNRESOLVED_REFERENCE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def user_settings_path(home: Path) -> Path:
    return home / ".qwen" / "settings.json"


def trusted_folders_path(home: Path) -> Path:
    return home / ".qwen" / "trustedFolders.json"


def oauth_creds_path(home: Path) -> Path:
    return home / ".qwen" / "oauth_creds.json"


def workspace_settings_path(folder: Path | None, home: Path) -> Path | None:
    """None without a folder, or when the folder is home (it is the user file then)."""
    if folder is None or folder == home:
        return None
    return folder / ".qwen" / "settings.json"


def watched_paths(folder: Path | None, home: Path) -> list[Path]:
    """Every path whose creation, edit or deletion can change the result."""
    found = [Path(c.path) for c in envfile.candidates(folder, home)]
    workspace = workspace_settings_path(folder, home)
    found.append(user_settings_path(home))
    found.extend([workspace] if workspace is not None else [])
    found.extend([trusted_folders_path(home), oauth_creds_path(home)])
    return found


def resolve(
    folder: Path | None,
    *,
    editor: EditorSettings,
    environ: Mapping[str, str],
    home: Path,
) -> ResolvedConfig:
    """Resolve ``folder`` (None: no workspace, home files only).

    Never touches os.environ: the folder's variables are returned in ``env``.
    """
    return resolve_with(
        folder, editor=editor, environ=environ, home=home, reader=FileReader()
    )


def resolve_with(
    folder: Path | None,
    *,
    editor: EditorSettings,
    environ: Mapping[str, str],
    home: Path,
    reader: FileReader,
) -> ResolvedConfig:
    """:func:`resolve` reading files through ``reader`` (the cache passes its own)."""
    if folder is not None and not folder.is_absolute():
        folder = folder.absolute()
    return _Resolution(folder, editor, environ, home, reader).run()


class _Variables:
    """Variable lookup in layers: process (non-empty) > .env file > settings ``env``."""

    def __init__(
        self, process: Mapping[str, str], file: dict[str, Sourced[str]]
    ) -> None:
        self.process = {k: v for k, v in process.items() if v}
        self.file = file
        self.settings: dict[str, Sourced[str]] = {}

    def get(self, name: str) -> Sourced[str] | None:
        if value := self.process.get(name):
            source = Source(description=f"process environment {name}", level="process")
            return Sourced[str](value=value, source=source)
        return self.file.get(name) or self.settings.get(name)

    def before_settings(self, name: str) -> str | None:
        """What settings interpolation sees: the process and the applied .env file."""
        found = self.process.get(name) or self.file.get(name)
        return found.value if isinstance(found, Sourced) else found

    def as_dict(self) -> dict[str, str]:
        merged = {k: s.value for k, s in self.settings.items()}
        merged.update({k: s.value for k, s in self.file.items()})
        merged.update(self.process)
        return merged


class _KeyPick:
    """An API key candidate: the variable or setting it was read from, and the value."""

    def __init__(self, label: str, found: Sourced[str]) -> None:
        self.label = label
        self.found = found

    @property
    def origin(self) -> str:
        source = self.found.source
        if source.level == "process":
            return "the process environment"
        return source.description.removeprefix(f"{self.label} in ")


class _Resolution:
    """One resolution run; the steps share the files read and the problems found."""

    def __init__(
        self,
        folder: Path | None,
        editor: EditorSettings,
        environ: Mapping[str, str],
        home: Path,
        reader: FileReader,
    ) -> None:
        self.folder = folder
        self.editor = editor
        self.environ = environ
        self.home = home
        self.reader = reader
        self.problems: list[str] = []
        self._clean: dict[str, Any] | None = None
        self.where = (
            f"workspace {folder}" if folder is not None else "no workspace folder"
        )

    def read(self, path: PurePath) -> FileRead:
        return self.reader.read(Path(path))

    def run(self) -> ResolvedConfig:
        user = self._settings_file(user_settings_path(self.home), "user")
        decision = trust.decide(
            self.folder,
            enabled=trust.trust_enabled(user.data),
            rules_file=self.read(trusted_folders_path(self.home)),
        )
        self.problems.extend(decision.problems)
        self.trusted = decision.trusted
        workspace_path = workspace_settings_path(self.folder, self.home)
        workspace = None
        if workspace_path is not None and self.trusted:
            workspace = self._settings_file(workspace_path, "project")
        self.scopes = Scopes(user=user, workspace=workspace)

        self.search, self.applied = self._env_file()
        self.vars = _Variables(self.environ, self.applied.values)
        self.settings = settings.interpolate(
            self.scopes.merged(), self.vars.before_settings
        )
        self.vars.settings = self._settings_env()
        self.table = settings.providers(self.settings, self.scopes)
        self.problems.extend(self.table.problems)

        return self._choose(workspace_path)

    def _settings_file(
        self, path: Path, level: Literal["user", "project"]
    ) -> SettingsFile:
        loaded = settings.load(self.read(path), path, level)
        self.problems.extend(loaded.problems)
        return loaded

    def _env_file(self) -> tuple[EnvSearch, AppliedEnv]:
        found = envfile.search(
            envfile.candidates(self.folder, self.home), self.read, trusted=self.trusted
        )
        self.problems.extend(found.problems)
        excluded = settings.excluded_env_vars(self.scopes, self.problems)
        applied = envfile.apply(
            found,
            excluded=envfile.DEFAULT_EXCLUDED if excluded is None else excluded,
            environ={k: v for k, v in self.environ.items() if v},
        )
        self.problems.extend(applied.problems)
        return found, applied

    def _settings_env(self) -> dict[str, Sourced[str]]:
        block = settings.env_block(self.settings, self.scopes, self.problems)
        kept: dict[str, Sourced[str]] = {}
        for key, found in block.items():
            if (
                found.source.level == "project"
                and key.upper() in envfile.NEVER_FROM_PROJECT
            ):
                self.problems.append(
                    f"{found.source.description} is ignored: a project file may not "
                    f"set {key} (set it in the editor's environment or a home .env "
                    "file)"
                )
                continue
            kept[key] = found
        return kept

    def _choose(self, workspace_path: Path | None) -> ResolvedConfig:
        auth_type = self._auth_type()
        auth = auth_type.value if auth_type is not None else None
        model = self._model(auth or OPENAI)
        provider = self._provider(auth, model.value)
        api_key_var = provider.env_key if provider and provider.env_key else API_KEY_VAR

        base_url = api_key = None
        if auth == OPENAI:
            base_url = self._base_url(provider, model.value)
            api_key = self._api_key(provider, base_url, api_key_var)
        elif auth is None:
            self.problems.append(self._no_credentials())
        elif auth_type is not None and not self.reader.exists(
            oauth_creds_path(self.home)
        ):
            self.problems.append(
                f"Qwen OAuth is selected ({auth_type.source.description}) but not "
                f"signed in ({self.where}): run the qwen.auth command with method "
                "qwen-oauth"
            )

        return ResolvedConfig(
            workspace_folder=self.folder,
            trusted=self.trusted,
            auth_type=auth_type,
            model=model,
            base_url=base_url,
            api_key=api_key,
            api_key_var=api_key_var,
            provider=provider,
            providers=self.table.providers,
            env_file=self._env_file_path(),
            env=self.vars.as_dict(),
            settings=self.settings,
            user_settings_path=user_settings_path(self.home),
            workspace_settings_path=workspace_path,
            problems=list(dict.fromkeys(self.problems)),
            watched_files=watched_paths(self.folder, self.home),
        )

    def _env_file_path(self) -> Path | None:
        candidate = self.search.chosen_candidate
        return None if candidate is None else Path(candidate.path)

    # -- auth type and model ------------------------------------------------------

    def _auth_type(self) -> Sourced[str] | None:
        """Editor > selectedType > openai if a key is found > qwen-oauth if signed in"""
        explicit = [self._editor_value("auth_type", "authType")]
        explicit.append(
            settings.string_setting(
                self.settings, "security.auth.selectedType", self.scopes, self.problems
            )
        )
        for choice in explicit:
            if choice is None:
                continue
            if choice.value in AUTH_TYPES:
                return choice
            self.problems.append(
                f"auth type {_short(choice.value)} from {choice.source.description} is "
                f"not supported by qwen-ls (use {OPENAI} or {QWEN_OAUTH}); ignored"
            )
        return self._inferred_auth_type()

    def _inferred_auth_type(self) -> Sourced[str] | None:
        model = self._model(OPENAI).value
        provider = self._provider(OPENAI, model)
        key = self._key(provider)
        if key is not None:
            source = key.found.source
            reason = f"an API key was found ({source.description})"
            return Sourced[str](
                value=OPENAI, source=source.model_copy(update={"description": reason})
            )
        local = self._local_base_url(provider, model)
        if local is not None:
            reason = f"{local.source.description} points at a local server"
            return Sourced[str](
                value=OPENAI,
                source=local.source.model_copy(update={"description": reason}),
            )
        creds = oauth_creds_path(self.home)
        if self.reader.exists(creds):
            source = Source(
                description=f"Qwen OAuth credentials in {creds}", level="user"
            )
            return Sourced[str](value=QWEN_OAUTH, source=source)
        return None

    def _local_base_url(
        self, provider: Provider | None, model: str
    ) -> Sourced[str] | None:
        """The base URL an openai chat would use, when it is a local server that
        needs no key (Ollama, vLLM, llama.cpp on this machine)."""
        saved = list(self.problems)
        found = self._base_url(provider, model)
        if found is not None:
            # Only a base URL that cannot be used is worth a problem here.
            self.problems[:] = saved
        if found is None or found.source.level == "default":
            return None
        return found if is_loopback(found.value) else None

    def _model(self, auth: str) -> Sourced[str]:
        """Editor > model.name > OPENAI_MODEL > QWEN_MODEL > the auth type's default."""
        found = self._editor_value("model", "model") or settings.string_setting(
            self.settings, "model.name", self.scopes, self.problems
        )
        found = found or self.vars.get("OPENAI_MODEL") or self.vars.get("QWEN_MODEL")
        return found or Sourced[str](value=DEFAULT_MODELS[auth], source=_DEFAULT)

    def _provider(self, auth: str | None, model: str) -> Provider | None:
        for provider in self.table.providers.get(auth or "", []):
            if provider.id == model:
                return provider
        return None

    def _editor_value(self, field: str, alias: str) -> Sourced[str] | None:
        value = getattr(self.editor, field)
        if not value:
            return None
        description = f"initializationOptions qwen.{alias}"
        if field == "model" and self.editor.model_source:
            description = self.editor.model_source
        source = Source(description=description, level="editor")
        return Sourced[str](value=value, source=source)

    # -- base URL and key ---------------------------------------------------------

    def _base_url(self, provider: Provider | None, model: str) -> Sourced[str] | None:
        """Editor > provider > OPENAI_BASE_URL > security.auth.baseUrl > default."""
        disabled = self.table.disabled.get(OPENAI, {}).get(model)
        if disabled is not None and provider is None:
            self.problems.append(
                f"model {model} ({self.where}) belongs to a modelProviders entry that "
                "is disabled (see the problem above); no request will be sent"
            )
            return None

        found = self._editor_value("openai_base_url", "openaiBaseUrl")
        if found is None and provider is not None and provider.base_url:
            where, _, path = provider.source.description.partition(" in ")
            source = provider.source.model_copy(
                update={"description": f"{where}.baseUrl in {path}"}
            )
            found = Sourced[str](value=provider.base_url, source=source)
            found = self._expanded_by_project(found, self._clean_provider_url(provider))
        found = found or self.vars.get("OPENAI_BASE_URL")
        if found is None:
            found = settings.string_setting(
                self.settings, "security.auth.baseUrl", self.scopes, self.problems
            )
            if found is not None:
                clean = settings.get(self._clean_settings(), "security.auth.baseUrl")
                found = self._expanded_by_project(found, clean)
        found = found or Sourced[str](value=DEFAULT_BASE_URL, source=_DEFAULT)

        reason = base_url_problem(found.value)
        if reason is None:
            return found
        self.problems.append(
            f"the base URL from {found.source.description} {reason} ({self.where}); "
            "correct or remove it"
        )
        return None

    def _clean_settings(self) -> dict[str, Any]:
        """The settings interpolated without the project .env file's variables."""
        if self._clean is None:
            project = (
                self.applied.candidate is not None and self.applied.candidate.project
            )
            if not project:
                self._clean = self.settings
            else:
                process = self.vars.process
                self._clean = settings.interpolate(self.scopes.merged(), process.get)
        return self._clean

    def _clean_provider_url(self, provider: Provider) -> str | None:
        clean = settings.providers(self._clean_settings(), self.scopes)
        for candidate in clean.providers.get(provider.auth_type, []):
            if candidate.id == provider.id:
                return candidate.base_url
        disabled = clean.disabled.get(provider.auth_type, {})
        return None if provider.id in disabled else provider.base_url

    def _expanded_by_project(self, found: Sourced[str], clean: Any) -> Sourced[str]:
        """A user-level base URL that only reads as it does thanks to ``$VAR``s from
        a project .env file is a project-level value (the host guard relies on it)."""
        if found.source.level == "project" or clean == found.value:
            return found
        assert self.applied.candidate is not None
        description = (
            f"{found.source.description}, expanded with variables from "
            f"{self.applied.candidate.path}"
        )
        return Sourced[str](
            value=found.value,
            source=Source(description=description, level="project"),
        )

    def _key(self, provider: Provider | None) -> _KeyPick | None:
        """Editor > the provider's envKey > OPENAI_API_KEY > security.auth.apiKey."""
        editor = self._editor_value("openai_api_key", "openaiApiKey")
        if editor is not None:
            return _KeyPick("the API key", editor)
        names = [provider.env_key] if provider and provider.env_key else []
        for name in [*names, API_KEY_VAR]:
            found = self.vars.get(name)
            if found is not None:
                return _KeyPick(name, found)
        setting = settings.string_setting(
            self.settings, "security.auth.apiKey", self.scopes, self.problems
        )
        return None if setting is None else _KeyPick("the API key", setting)

    def _api_key(
        self, provider: Provider | None, base_url: Sourced[str] | None, var: str
    ) -> Sourced[SecretStr] | None:
        pick = self._key(provider)
        if pick is None:
            # A local server (llama.cpp, Ollama, vLLM) usually needs no key at all.
            if base_url is None or not is_loopback(base_url.value):
                self.problems.append(self._missing_key(var))
            return None
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in pick.found.value):
            self.problems.append(
                f"{pick.label} from {pick.origin} contains a control character "
                "(CR/LF?); the key is not used: save the file with LF line ends or "
                "remove the character"
            )
            return None
        if _UNRESOLVED_REFERENCE.fullmatch(pick.found.value):
            # "$MY_KEY" in settings whose variable is not set: sending it literally
            # as a key would only earn a 401 that points nowhere.
            self.problems.append(
                f"{pick.label} from {pick.origin} is {pick.found.value}, a variable "
                "that is not set; the key is not used: set that variable or write the "
                "key itself"
            )
            return None
        return Sourced[SecretStr](
            value=SecretStr(pick.found.value), source=pick.found.source
        )

    # -- what to tell a user without a key ------------------------------------------

    def _no_credentials(self) -> str:
        return (
            self._missing_key(API_KEY_VAR)
            + "; or sign in with Qwen OAuth (the qwen.auth command, method qwen-oauth)"
        )

    def _missing_key(self, var: str) -> str:
        names = list(dict.fromkeys([var, API_KEY_VAR]))
        message = f"{var} not set ({self.where})"
        hidden = self._hidden_by_quote(names)
        if hidden is not None:
            message += f": {hidden}"
        holder = envfile.skipped_holder(
            self.search,
            names,
            self.read,
            trusted=self.trusted,
            environ=self.vars.process,
        )
        if holder is not None:
            return f"{message}: {self._trail(holder)}"
        return f"{message}: {self._where_to_add(var)}"

    def _hidden_by_quote(self, names: list[str]) -> str | None:
        parsed = self.applied.file
        if parsed is None or parsed.unterminated_line is None:
            return None
        hidden = [n for n in names if n in parsed.hidden]
        if not hidden:
            return None
        return (
            f"{parsed.path} has an unterminated quoted value starting at line "
            f"{parsed.unterminated_line} (may hide {hidden[0]}); add the closing quote"
        )

    def _trail(self, holder: tuple[PurePath, str]) -> str:
        # The search as it happened, so the user sees why the key they wrote was unread.
        chosen = self.search.chosen_candidate
        assert chosen is not None
        path, name = holder
        steps = []
        sibling = chosen.path.parent / ".qwen" / ".env"
        if sibling in self.search.passed_over:
            steps.append(f"{sibling} {self.search.passed_over[sibling]}")
        steps.append(f"loaded {chosen.path} (no {name})")
        steps.append("stopped")
        first = self.folder / ".qwen" / ".env" if self.folder else None
        if first is not None and first != Path(chosen.path):
            fix = f"create {first} with {name}=<your key> (it is read first)"
        else:
            fix = f"add {name}=<your key> to {chosen.path}"
        return (
            f"{' → '.join(steps)}; {path} (which sets {name}) was not read because the "
            f"first .env file found wins; {fix}"
        )

    def _where_to_add(self, var: str) -> str:
        home_file = self.home / ".qwen" / ".env"
        if self.folder is None:
            return (
                f"add {var}=<your key> to {home_file} or set qwen.openaiApiKey in the "
                "editor"
            )
        return (
            f"add {var}=<your key> to {self.folder / '.qwen' / '.env'} or {home_file}, "
            "or set qwen.openaiApiKey in the editor"
        )


def _short(value: str) -> str:
    """Quote a short plain word; anything else might be a pasted secret."""
    plain = value.replace("-", "").replace("_", "").isalnum()
    if len(value) <= 32 and plain and not value.startswith("sk-"):
        return repr(value)
    return "(value not shown)"
