"""API keys: checking what the user pasted, and storing it in the .env file a
settings scope reads, changing only that key's lines and keeping the file out of git.
No message here ever contains a key."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from qwen_ls.config.edit import BOM, atomic_write

CODING_PLAN_BASE_URL = "https://coding.dashscope.aliyuncs.com/v1"
CODING_PLAN_GLOBAL_BASE_URL = "https://coding-intl.dashscope.aliyuncs.com/v1"
CODING_PLAN_ENV_KEY = "BAILIAN_CODING_PLAN_API_KEY"
CODING_PLAN_MODEL = "qwen3-coder-plus"
CODING_PLAN_MODELS: list[str] = [
    "qwen3.5-plus",
    "qwen3.6-plus",
    "qwen3-coder-plus",
    "qwen3-coder-next",
    "qwen3-max-2026-01-23",
    "glm-4.7",
    "glm-5",
    "kimi-k2.5",
    "MiniMax-M2.5",
]

MAX_KEY_LENGTH = 1024
GIT_TIMEOUT_S = 5.0

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WHOLE_LINE = re.compile(r"(?:export\s+)?[A-Z][A-Z0-9]*_[A-Z0-9_]*=.")
# Written bare: readable alike by python-dotenv and the CLI's Node dotenv.
_BARE = re.compile(r"[A-Za-z0-9_\-.,/:@+=%~]*")
_HEAD = r"(?P<export>export[^\S\r\n]+)?(?:'[^']+'|[^=#\s]+)[^\S\r\n]*=[^\S\r\n]*"
_EOL = r"(?P<eol>(?:\r\n|\n|\r)?)\Z"
_QUOTED_LINE = re.compile(
    _HEAD
    + r"(?:'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\")"
    + r"(?P<comment>[^\S\r\n]*(?:#[^\r\n]*)?)"
    + _EOL,
    re.DOTALL,
)
_BARE_LINE = re.compile(
    _HEAD + r"[^\r\n]*?(?P<comment>[^\S\r\n]+#[^\r\n]*|[^\S\r\n]*)" + _EOL
)
_LEADING = re.compile(r"\s*")
_LINE_BREAKS = re.compile(r"^.*(?:\r\n|\n|\r)", re.DOTALL)
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\!#])")


class KeyNotStored(Exception):
    """A .env file could not be updated (unreadable, not UTF-8, a value that cannot
    be written safely, or an earlier broken line that would swallow the key). The
    file is unchanged."""


@dataclass
class StoredKey:
    """What :func:`store_api_key` did, for the message shown to the user."""

    env_file: Path
    created: bool
    git_ignored: bool
    """We added the file to the repository's ``.git/info/exclude``."""
    git_tracked_warning: bool
    """The file is already tracked by git, so the key may be committed."""
    messages: list[str] = field(default_factory=list)


def validate_api_key(key: str) -> None:
    """Raise ValueError saying what is wrong with a pasted key (never echoing it)."""
    if not key:
        raise ValueError("the API key is empty")
    if any(char.isspace() for char in key):
        raise ValueError(
            "the API key contains spaces or line breaks; paste the key alone"
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        raise ValueError("the API key contains control characters; paste the key alone")
    if not key.isascii():
        raise ValueError(
            "the API key contains non-ASCII characters (such as curly quotes); paste "
            "the key alone"
        )
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(
            f"the API key is {len(key)} characters long, more than any real key; "
            "paste the key alone"
        )
    if key[0] in "\"'" and key[-1] == key[0]:
        raise ValueError("the API key is wrapped in quotes; paste it without them")
    if _WHOLE_LINE.match(key):
        raise ValueError(
            "that looks like a whole NAME=value line; paste only the key after the ="
        )


def validate_coding_plan_key(key: str) -> None:
    """Like :func:`validate_api_key`, and the key must be a Coding Plan key."""
    validate_api_key(key)
    if not key.startswith("sk-sp-"):
        raise ValueError(
            "Coding Plan keys start with sk-sp-, this one does not; for a DashScope "
            "or other provider key choose API key instead"
        )


def store_api_key(
    env_file: Path, values: dict[str, str | None], *, workspace: Path | None = None
) -> StoredKey:
    """Store ``values`` in ``env_file``, first making sure git ignores it when it is
    inside ``workspace`` and a git work tree."""
    created = not env_file.exists()
    ignored, tracked = (False, False)
    if workspace is not None:
        ignored, tracked = protect_from_git(env_file, workspace)
    store_env_values(env_file, values)

    names = ", ".join(values)
    result = StoredKey(env_file, created, ignored, tracked)
    result.messages.append(f"Saved {names} in {env_file}.")
    if ignored:
        result.messages.append(
            f"Added {env_file.name} to the repository's .git/info/exclude so that git "
            "ignores it."
        )
    if tracked:
        result.messages.append(
            f"Warning: {env_file} is tracked by git, so the key would be committed "
            f"with it: run `git rm --cached {env_file}` and commit, or store the key "
            "in user settings instead."
        )
    return result


def store_env_values(env_file: Path, values: dict[str, str | None]) -> bool:
    """Set (or with None remove) keys in a .env file; True if the file changed.

    Only the lines of those keys change: comments, blank lines, other keys, ``export``
    prefixes, a comment after the value, line endings and a BOM stay. A key found
    more than once keeps its last line (the one in effect); missing keys are
    appended. A new file gets mode 0600, an existing one keeps its mode.
    """
    for name, value in values.items():
        if not _NAME.fullmatch(name):
            raise KeyNotStored(f"{name!r} is not a valid environment variable name")
        if value is not None:
            _quote(name, value)  # refuse before touching anything

    text, bom = _read(env_file)
    new = _edit(text, values)
    if new == text:
        return False
    _check(env_file, new, values)
    try:
        atomic_write(
            env_file, ((BOM if bom else "") + new).encode("utf-8"), new_mode=0o600
        )
    except OSError as exc:
        reason = (
            "permission denied (check owner/permissions)"
            if isinstance(exc, PermissionError)
            else exc.strerror or str(exc)
        )
        raise KeyNotStored(f"cannot write {env_file}: {reason}") from exc
    return True


def protect_from_git(env_file: Path, workspace: Path) -> tuple[bool, bool]:
    """Make git ignore ``env_file`` if it lies in ``workspace`` inside a git work tree.

    Returns (we added an ignore rule now, the file is already tracked). The rule goes
    to ``.git/info/exclude``: it applies at once, stays on this machine and changes
    no file the project shares (a ``.gitignore`` edit would show up in the user's
    next commit). Without git on PATH, or outside a work tree: (False, False).
    """
    git = shutil.which("git")
    if git is None:
        return False, False
    target = Path(os.path.abspath(env_file))
    if not target.is_relative_to(os.path.abspath(workspace)):
        return False, False  # a user-level file: not this project's business
    top = _git(git, workspace, "rev-parse", "--show-toplevel")
    if top is None:
        return False, False
    root = Path(top.strip())
    try:
        relative = Path(os.path.realpath(target)).relative_to(os.path.realpath(root))
    except ValueError:
        return False, False
    path = relative.as_posix()

    if _git(git, root, "ls-files", "--error-unmatch", "--", path) is not None:
        return False, True
    if _git(git, root, "check-ignore", "-q", "--", path) is not None:
        return False, False
    exclude = _git(git, root, "rev-parse", "--git-path", "info/exclude")
    if exclude is None:
        return False, False
    exclude_path = root / exclude.strip()
    try:
        _append_line(exclude_path, "/" + _GLOB_SPECIAL.sub(r"\\\1", path))
    except OSError:
        return False, False
    return _git(git, root, "check-ignore", "-q", "--", path) is not None, False


# -- .env text ----------------------------------------------------------------


def _read(env_file: Path) -> tuple[str, bool]:
    try:
        data = env_file.read_bytes()
    except FileNotFoundError:
        return "", False
    except OSError as exc:
        raise KeyNotStored(f"cannot read {env_file}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyNotStored(
            f"{env_file} is not UTF-8 text (byte {exc.start}); the file was not changed"
        ) from exc
    return text.removeprefix(BOM), text.startswith(BOM)


def _edit(text: str, values: dict[str, str | None]) -> str:
    bindings = list(parse_stream(io.StringIO(text)))
    pieces = [binding.original.string for binding in bindings]
    if "".join(pieces) != text:
        raise KeyNotStored("the file could not be split into lines safely")
    keys = [binding.key for binding in bindings]
    newline = _newline(text)

    for name, value in values.items():
        found = [i for i, key in enumerate(keys) if key == name]
        for i in found[:-1]:
            pieces[i] = _without_binding(pieces[i])
        if found and value is None:
            pieces[found[-1]] = _without_binding(pieces[found[-1]])
        elif found and value is not None:
            pieces[found[-1]] = _with_value(pieces[found[-1]], name, value)
    new = "".join(pieces)

    missing = [
        (name, value)
        for name, value in values.items()
        if value is not None and name not in keys
    ]
    if missing:
        if new and not new.endswith(("\n", "\r")):
            new += newline
        new += "".join(
            f"{name}={_quote(name, value)}{newline}" for name, value in missing
        )
    return new


def _newline(text: str) -> str:
    for newline in ("\r\n", "\n", "\r"):
        if newline in text:
            return newline
    return "\n"


def _with_value(piece: str, name: str, value: str) -> str:
    lead_end = _LEADING.match(piece)
    assert lead_end is not None
    lead, body = piece[: lead_end.end()], piece[lead_end.end() :]
    match = _QUOTED_LINE.match(body) or _BARE_LINE.match(body)
    if match is None:
        eol = re.search(r"(?:\r\n|\n|\r)?\Z", body)
        tail = eol.group(0) if eol else ""
        return f"{lead}{name}={_quote(name, value)}{tail}"
    export = match.group("export") or ""
    comment = match.group("comment") or ""
    return f"{lead}{export}{name}={_quote(name, value)}{comment}{match.group('eol')}"


def _without_binding(piece: str) -> str:
    """Keep the blank lines before a binding, drop the binding itself."""
    lead_end = _LEADING.match(piece)
    assert lead_end is not None
    blank = _LINE_BREAKS.match(piece[: lead_end.end()])
    return blank.group(0) if blank else ""


def _quote(name: str, value: str) -> str:
    """``value`` as written after ``NAME=`` so that python-dotenv (qwen-ls) and Node's
    dotenv (the CLI) both read it back unchanged, without ${...} expansion."""
    if _BARE.fullmatch(value):
        return value
    if "\n" in value or "\r" in value or "\0" in value:
        raise KeyNotStored(f"the value for {name} contains a line break; not stored")
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    if '"' not in value and "\\" not in value and "${" not in value:
        return f'"{value}"'
    raise KeyNotStored(
        f"the value for {name} mixes quotes and backslashes in a way a .env file "
        "cannot hold safely; not stored"
    )


def _check(env_file: Path, text: str, values: dict[str, str | None]) -> None:
    """Refuse an edit that would not read back as intended, e.g. behind a line with
    an unterminated quote that swallows what follows."""
    parsed = dotenv_values(stream=io.StringIO(text), interpolate=False)
    for name, value in values.items():
        if parsed.get(name) != value or (value is None and name in parsed):
            raise KeyNotStored(
                f"{env_file}: {name} would not read back as written (is there an "
                "unterminated quote earlier in the file?); the file was not changed"
            )


# -- git -----------------------------------------------------------------------


def _git(git: str, cwd: Path, *args: str) -> str | None:
    """Standard output of a successful git command; None on failure or timeout."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    env["LC_ALL"] = "C"
    try:
        done = subprocess.run(
            [git, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    separator = "" if not existing or existing.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{separator}# API key file written by qwen-ls\n{line}\n")
