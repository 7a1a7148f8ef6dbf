"""Read the user and workspace settings.json (JSON with comments and trailing commas),
merge them, interpolate ``$VAR``, and turn ``modelProviders`` into typed providers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from qwen_ls.config.files import FileRead
from qwen_ls.config.model import Provider, Source, Sourced

_VARIABLE = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_UNRESOLVED = re.compile(r"\$\{([^}]*)\}")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Lookup = Callable[[str], str | None]


class SettingsFile(BaseModel):
    """One settings file as read: empty when absent, unreadable or invalid."""

    path: Path
    level: Literal["user", "project"]
    data: dict[str, Any] = Field(default_factory=dict, repr=False)
    problems: list[str] = Field(default_factory=list)


class Scopes(BaseModel):
    """The settings files in force, lowest first, to say where a key came from."""

    user: SettingsFile
    workspace: SettingsFile | None = None

    def merged(self) -> dict[str, Any]:
        if self.workspace is None:
            return self.user.data
        return merge(self.user.data, self.workspace.data)

    def owner(self, dotted: str) -> SettingsFile:
        """The highest scope that sets ``dotted``."""
        if self.workspace is not None and has(self.workspace.data, dotted):
            return self.workspace
        return self.user

    def env_owner(self, key: str) -> SettingsFile:
        """The highest scope whose ``env`` object sets ``key`` (which may hold dots)."""
        if self.workspace is not None:
            block = self.workspace.data.get("env")
            if isinstance(block, dict) and block.get(key) is not None:
                return self.workspace
        return self.user

    def source(self, dotted: str) -> Source:
        owner = self.owner(dotted)
        return Source(description=f"{dotted} in {owner.path}", level=owner.level)


class ProviderTable(BaseModel):
    """Usable providers per auth type, plus the ids that were disabled and why."""

    providers: dict[str, list[Provider]] = Field(default_factory=dict)
    disabled: dict[str, dict[str, str]] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)


def load(read: FileRead, path: Path, level: Literal["user", "project"]) -> SettingsFile:
    """Parse a settings file; problems name file, line and column. Never writes it."""
    result = SettingsFile(path=path, level=level)
    if read.problem is not None:
        result.problems.append(read.problem)
    if read.data is None:
        return result

    try:
        text = read.data.decode("utf-8-sig")
        value = parse_jsonc(text)
    except UnicodeDecodeError as exc:
        line = read.data[: exc.start].count(b"\n") + 1
        result.problems.append(
            f"{path} line {line}: not UTF-8 text — settings ignored; the file is "
            "left unchanged"
        )
        return result
    except json.JSONDecodeError as exc:
        result.problems.append(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} — settings "
            f"ignored ({exc.msg}); the file is left unchanged, fix it and save"
        )
        return result
    except RecursionError:
        result.problems.append(
            f"{path}: nested too deeply to read — settings ignored; the file is left "
            "unchanged"
        )
        return result

    if not isinstance(value, dict):
        result.problems.append(
            f"{path}: the top level must be a JSON object {{...}} — settings ignored"
        )
        return result
    if _depth(value) > MAX_DEPTH:
        result.problems.append(
            f"{path}: nested more than {MAX_DEPTH} levels deep — settings ignored"
        )
        return result
    result.data = value
    return result


MAX_DEPTH = 64


def _depth(value: Any) -> int:
    """How deeply objects and lists nest, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, (dict, list)):
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_jsonc(text: str) -> Any:
    """JSON plus comments and trailing commas, as editors write it.

    Deliberately stricter than JSON5: unquoted keys or single quotes would make the
    Qwen Code CLI reset the file, so they are reported here too (field case B19).
    """
    return json.loads(_blank_comments_and_trailing_commas(text))


def _blank_comments_and_trailing_commas(text: str) -> str:
    # Replaced by spaces, newlines kept, so JSON errors point at the original place.
    out = list(text)
    pending_comma: int | None = None
    previous = ""  # the last significant character, to tell `[1,]` from `[,]`
    i, end = 0, len(text)
    while i < end:
        if text[i] == '"':
            i = _string_end(text, i)
            pending_comma = None
            previous = '"'
            continue
        if text.startswith("//", i):
            stop = text.find("\n", i)
            stop = end if stop < 0 else stop
        elif text.startswith("/*", i):
            stop = text.find("*/", i + 2)
            if stop < 0:
                return "".join(out)  # unterminated comment: let json report it
            stop += 2
        else:
            char = text[i]
            if char == "," and previous not in ("", ",", ":", "[", "{"):
                pending_comma = i
            elif char in "}]" and pending_comma is not None:
                out[pending_comma] = " "
                pending_comma = None
            elif not char.isspace():
                pending_comma = None
            previous = char if not char.isspace() else previous
            i += 1
            continue
        for j in range(i, stop):
            if out[j] != "\n":
                out[j] = " "
        i = stop
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    i = start + 1
    while i < len(text) and text[i] not in '"\n':
        i += 2 if text[i] == "\\" else 1
    return i + 1


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Objects merge key by key; anything else (lists included) is replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def has(data: dict[str, Any], dotted: str) -> bool:
    return get(data, dotted) is not None


def get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def interpolate(value: Any, lookup: Lookup) -> Any:
    """Replace ``$VAR``/``${VAR}`` in string values; unknown names stay as written."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: _substitute(m, lookup), value)
    if isinstance(value, dict):
        return {k: interpolate(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, lookup) for v in value]
    return value


def _substitute(match: re.Match[str], lookup: Lookup) -> str:
    found = lookup(match[1] if match[1] is not None else match[2])
    return match[0] if found is None else found


def unresolved(value: str) -> str | None:
    """The first ``${NAME}`` left in ``value``, shown safely, or None."""
    match = _UNRESOLVED.search(value)
    if match is None:
        return None
    return match[0] if VARIABLE_NAME.fullmatch(match[1]) else "${...}"


def string_setting(
    settings: dict[str, Any], dotted: str, scopes: Scopes, problems: list[str]
) -> Sourced[str] | None:
    """A non-empty string setting with its source; a wrong type is a problem."""
    value = get(settings, dotted)
    if value is None or value == "":
        return None
    source = scopes.source(dotted)
    if not isinstance(value, str):
        problems.append(f"{source.description} must be a string; ignored")
        return None
    return Sourced[str](value=value, source=source)


def excluded_env_vars(scopes: Scopes, problems: list[str]) -> list[str] | None:
    """``advanced.excludedEnvVars`` of the merged settings, None when unset."""
    value = get(scopes.merged(), "advanced.excludedEnvVars")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        where = scopes.source("advanced.excludedEnvVars").description
        problems.append(f"{where} must be a list of variable names; ignored")
        return None
    return value


def env_block(
    settings: dict[str, Any], scopes: Scopes, problems: list[str]
) -> dict[str, Sourced[str]]:
    """The string values of the merged ``env`` object, each with its scope."""
    block = settings.get("env")
    if block is None:
        return {}
    if not isinstance(block, dict):
        problems.append(
            f"{scopes.source('env').description} must be an object; ignored"
        )
        return {}
    values: dict[str, Sourced[str]] = {}
    for key, value in block.items():
        if not isinstance(value, str) or not value:
            continue
        owner = scopes.env_owner(key)
        source = Source(description=f"env.{key} in {owner.path}", level=owner.level)
        values[key] = Sourced[str](value=value, source=source)
    return values


def providers(settings: dict[str, Any], scopes: Scopes) -> ProviderTable:
    """Typed ``modelProviders``; an entry that cannot be used safely is disabled."""
    table = ProviderTable()
    raw = settings.get("modelProviders")
    if raw is None:
        return table
    if not isinstance(raw, dict):
        where = scopes.source("modelProviders").description
        table.problems.append(f"{where} must be an object keyed by auth type; ignored")
        return table

    for auth_type, entries in raw.items():
        owner = scopes.owner(f"modelProviders.{auth_type}")
        prefix = f"modelProviders.{auth_type}"
        if not isinstance(entries, list):
            table.problems.append(f"{prefix} in {owner.path} must be a list; ignored")
            continue
        usable = table.providers.setdefault(auth_type, [])
        for index, entry in enumerate(entries):
            where = f"{prefix}[{index}]"
            outcome = _provider(entry, auth_type, where, owner)
            if isinstance(outcome, Provider):
                usable.append(outcome)
                continue
            entry_id, problem = outcome
            table.problems.append(problem)
            if entry_id is not None:
                table.disabled.setdefault(auth_type, {})[entry_id] = problem
    return table


def _provider(
    entry: Any, auth_type: str, where: str, owner: SettingsFile
) -> Provider | tuple[str | None, str]:
    """A Provider, or the entry's id (if any) and why it is not usable."""
    if not isinstance(entry, dict):
        return None, f"{where} in {owner.path} must be an object; ignored"
    entry_id = entry.get("id")
    if not isinstance(entry_id, str) or not entry_id:
        return (
            None,
            f"{where}.id in {owner.path} is missing or not a string; entry ignored",
        )

    env_key = entry.get("envKey") or None
    if env_key is not None and (
        not isinstance(env_key, str) or not VARIABLE_NAME.fullmatch(env_key)
    ):
        return entry_id, (
            f"{where}.envKey in {owner.path} must be the name of a variable (looks "
            f"like a key was pasted); provider {entry_id} disabled: put the key in a "
            ".env file as NAME=<key> and write NAME in envKey"
        )

    base_url = entry.get("baseUrl") or None
    if base_url is not None and not isinstance(base_url, str):
        return (
            entry_id,
            f"{where}.baseUrl in {owner.path} must be a string; provider disabled",
        )
    if base_url is not None and (name := unresolved(base_url)) is not None:
        return entry_id, (
            f"unresolved {name} in {where}.baseUrl in {owner.path}; provider "
            f"{entry_id} disabled: define the variable in the environment or a .env "
            "file"
        )

    name = entry.get("name")
    description = entry.get("description")
    config = entry.get("generationConfig")
    return Provider(
        id=entry_id,
        name=name if isinstance(name, str) and name else entry_id,
        description=description if isinstance(description, str) else None,
        env_key=env_key,
        base_url=base_url,
        generation_config=config if isinstance(config, dict) else {},
        auth_type=auth_type,
        source=Source(description=f"{where} in {owner.path}", level=owner.level),
    )
