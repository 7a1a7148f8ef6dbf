"""The credential/host guard: a key of the user's own is not sent to a host that a
project file chose until the user allowed that host for that folder, once; the
answers are kept in ``~/.qwen/qwen-ls-allowed-hosts.json``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from qwen_ls.config import ResolvedConfig
from qwen_ls.config.edit import atomic_write
from qwen_ls.config.files import CachingReader, FileRead

logger = logging.getLogger(__name__)

ALLOW = "Allow"
DONT_ALLOW = "Don't allow"
ALLOWED_HOSTS_NAME = "qwen-ls-allowed-hosts.json"
_VERSION = 1
_DEFAULT_PORTS = {"http": 80, "https": 443}


def allowed_hosts_path(home: Path) -> Path:
    return home / ".qwen" / ALLOWED_HOSTS_NAME


@dataclass(frozen=True)
class Consent:
    """A consent a chat of this folder needs before it may be sent."""

    folder: Path
    host: str
    url_source: str
    key_source: str

    def question(self) -> str:
        return (
            f"Workspace {self.folder} sends chats to {self.host} (set by "
            f"{self.url_source}), and the API key for it is your own "
            f"({self.key_source}). Send your key to {self.host}? Allow only if you "
            "trust this project; the answer is remembered for this folder."
        )

    def refusal(self, reason: str) -> str:
        return (
            f"workspace {self.folder}: not sending your API key ({self.key_source}) "
            f"to {self.host}, which {self.url_source} chose: {reason}. To allow it, "
            "run the chat again and answer Allow, or add "
            f'"{self.host}" to the list for "{self.folder}" under "folders" in '
            "~/.qwen/" + ALLOWED_HOSTS_NAME + "; or put a key for that host in the "
            "project's own .qwen/.env, or remove the base URL from the project"
        )

    def pending(self) -> str:
        """The line `qwen.status` shows until the host is allowed."""
        return (
            f"the first chat will ask before sending your API key ({self.key_source}) "
            f"to {self.host}, which {self.url_source} chose"
        )


def host_of(url: str) -> str:
    """``host:port`` of a URL, the port always written, so that it names one server."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    return f"{host}:{port}"


def consent_needed(cfg: ResolvedConfig) -> Consent | None:
    """The consent a chat needs: a key from a user-level source (editor, process
    environment, home .env, user settings) and a base URL from a project file."""
    if cfg.workspace_folder is None or cfg.base_url is None or cfg.api_key is None:
        return None
    if cfg.base_url.source.level != "project":
        return None
    if cfg.api_key.source.level == "project":
        return None
    key_source = cfg.api_key.source.description
    if cfg.api_key.source.level == "process":
        key_source = "the editor's environment"
    return Consent(
        folder=cfg.workspace_folder,
        host=host_of(cfg.base_url.value),
        url_source=cfg.base_url.source.description,
        key_source=key_source,
    )


def consent_pending(cfg: ResolvedConfig, hosts: AllowedHosts) -> Consent | None:
    """The consent a chat needs and that was not given yet."""
    consent = consent_needed(cfg)
    if consent is None or hosts.allowed(consent.folder, consent.host):
        return None
    return consent


class AllowedHosts:
    """The hosts allowed per folder: the file, read again only when it changed, plus
    what was allowed in this session when the file could not be written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader = CachingReader()
        self._session: set[tuple[str, str]] = set()
        self._parsed: tuple[FileRead, dict[str, list[str]]] | None = None

    def allowed(self, folder: Path, host: str) -> bool:
        if (str(folder), host) in self._session:
            return True
        return host in self._read().get(str(folder), [])

    def allow(self, folder: Path, host: str) -> str | None:
        """Remember ``host`` for ``folder``. When the file cannot be written, it is
        remembered for this session only, and the returned warning says so."""
        self._session.add((str(folder), host))
        folders = self._read()
        hosts = folders.setdefault(str(folder), [])
        if host in hosts:
            return None
        hosts.append(host)
        data = json.dumps({"version": _VERSION, "folders": folders}, indent=2) + "\n"
        try:
            atomic_write(self.path, data.encode("utf-8"), mode=0o600)
        except OSError as exc:
            reason = (
                "permission denied (check owner/permissions)"
                if isinstance(exc, PermissionError)
                else exc.strerror or str(exc)
            )
            warning = (
                f"cannot save {self.path}: {reason}; {host} is allowed for {folder} "
                "in this session only"
            )
            logger.warning("%s", warning)
            return warning
        return None

    def _read(self) -> dict[str, list[str]]:
        read = self._reader.read(self.path)
        if self._parsed is None or self._parsed[0] is not read:
            self._parsed = (read, self._parse(read))
        return {folder: list(hosts) for folder, hosts in self._parsed[1].items()}

    def _parse(self, read: FileRead) -> dict[str, list[str]]:
        if read.problem is not None:
            logger.warning("%s", read.problem)
        if read.data is None:
            return {}
        try:
            value = json.loads(read.data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            logger.warning(
                "%s is not valid JSON (%s); no host is allowed", self.path, exc
            )
            return {}
        folders = value.get("folders") if isinstance(value, dict) else None
        if not isinstance(folders, dict):
            return {}
        return {
            str(folder): [h for h in hosts if isinstance(h, str)]
            for folder, hosts in folders.items()
            if isinstance(hosts, list)
        }
