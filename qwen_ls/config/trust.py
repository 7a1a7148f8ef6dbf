"""Qwen Code folder trust, reading side: is a workspace folder trusted to supply its own
.env files and settings?"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel, Field

from qwen_ls.config.files import FileRead
from qwen_ls.config.settings import get, parse_jsonc

TRUST_FOLDER = "TRUST_FOLDER"
TRUST_PARENT = "TRUST_PARENT"
DO_NOT_TRUST = "DO_NOT_TRUST"


class TrustDecision(BaseModel):
    trusted: bool
    problems: list[str] = Field(default_factory=list)


def trust_enabled(user_settings: dict[str, Any]) -> bool:
    """``security.folderTrust.enabled``; only user settings count, so a workspace
    cannot trust itself."""
    return get(user_settings, "security.folderTrust.enabled") is True


def decide(
    folder: PurePath | None, *, enabled: bool, rules_file: FileRead
) -> TrustDecision:
    """Trusted unless folder trust is on and no rule trusts ``folder``.

    Stricter than the CLI where rules conflict: the most specific rule decides (the
    CLI lets any trusting rule win), and a folder reached through a symlink must not
    be distrusted under either of its paths."""
    if folder is None or not enabled:
        return TrustDecision(trusted=True)

    rules, problems = _read_rules(rules_file)
    verdicts = {matching_rule(path, rules) for path in _spellings(folder)}
    if True in verdicts and False not in verdicts:
        return TrustDecision(trusted=True, problems=problems)

    problems.append(
        f"workspace folder {folder} is not trusted (folder trust is enabled in the "
        "user settings): its .env files and .qwen/settings.json are ignored; to trust "
        f'it, add "{folder}": "{TRUST_FOLDER}" to {rules_file.path}'
    )
    return TrustDecision(trusted=False, problems=problems)


def matching_rule(folder: PurePath, rules: dict[str, str]) -> bool | None:
    """The verdict of the most specific rule covering ``folder``, None if none does.

    Each rule covers its root and everything below; on equal depth distrust wins, so a
    ``DO_NOT_TRUST`` inside a trusted tree keeps that subtree untrusted.
    """
    best: tuple[int, bool] | None = None
    for raw, rule in rules.items():
        path = type(folder)(raw)
        root = path.parent if rule == TRUST_PARENT else path
        if folder != root and root not in folder.parents:
            continue
        candidate = (len(root.parts), rule == DO_NOT_TRUST)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else not best[1]


def _spellings(folder: PurePath) -> list[PurePath]:
    """The folder as the editor named it and, when a symlink is on the way, its real
    path: the CLI checks its resolved current directory, so its rules name that."""
    if not isinstance(folder, Path):
        return [folder]
    try:
        real = Path(os.path.realpath(folder))
    except OSError:
        return [folder]
    return [folder] if real == folder else [folder, real]


def _read_rules(rules_file: FileRead) -> tuple[dict[str, str], list[str]]:
    problems = [] if rules_file.problem is None else [rules_file.problem]
    if rules_file.data is None:
        return {}, problems

    try:
        value = parse_jsonc(rules_file.data.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        problems.append(
            f"{rules_file.path}: invalid JSON at line {exc.lineno} column {exc.colno} "
            "— its rules are ignored, so no folder is trusted; the file is left "
            "unchanged"
        )
        return {}, problems
    except UnicodeDecodeError:
        problems.append(f"{rules_file.path}: not UTF-8 text — its rules are ignored")
        return {}, problems
    if not isinstance(value, dict):
        problems.append(f"{rules_file.path}: must be an object of path: rule; ignored")
        return {}, problems

    rules: dict[str, str] = {}
    for path, rule in value.items():
        if rule in (TRUST_FOLDER, TRUST_PARENT, DO_NOT_TRUST):
            rules[path] = rule
        else:
            problems.append(
                f"{rules_file.path}: the rule for {path} must be {TRUST_FOLDER}, "
                f"{TRUST_PARENT} or {DO_NOT_TRUST}; ignored"
            )
    return rules, problems
