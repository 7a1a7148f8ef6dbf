"""Model-backed code actions. Listing them is cheap: nothing calls the model until the
user picks one, and each carries the command that does the work (`qwen.chat` or
`qwen.edit`, with the argument object a direct call takes), so that clients without
`codeAction/resolve` run them too."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from qwen_ls.features.positions import DocumentText

logger = logging.getLogger(__name__)

EXPLAIN_PROMPT = (
    "Explain what this code does, step by step, and point out any problems."
)
DOCUMENT_INSTRUCTION = (
    "Add documentation: docstrings or doc comments in this language's usual style for "
    "each function, class or non-obvious block. Do not change the code itself."
)
SIMPLIFY_INSTRUCTION = (
    "Simplify this code without changing its behaviour: remove duplication and "
    "needless complexity, keep names and public interfaces."
)
SETTING = "qwenLs.codeActions"
MAX_CUSTOM_ACTIONS = 20
MAX_TITLE_CHARS = 60
MAX_DIAGNOSTICS = 20

KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]
"""The kinds advertised in `codeActionProvider` (Explain has no kind)."""


@dataclass(frozen=True)
class CustomAction:
    title: str
    instruction: str


def custom_actions(settings: dict[str, Any]) -> tuple[list[CustomAction], list[str]]:
    """Extra actions from the `qwenLs.codeActions` key of the merged settings: a
    list of `{"title": ..., "instruction": ...}` objects or plain instruction
    strings. Returns the actions and what was wrong with the entries left out."""
    section = settings.get("qwenLs")
    raw = section.get("codeActions") if isinstance(section, dict) else None
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [f"{SETTING} must be a list of {{title, instruction}}; ignored"]
    actions: list[CustomAction] = []
    problems: list[str] = []
    for index, item in enumerate(raw):
        instruction = item.get("instruction") if isinstance(item, dict) else item
        if not isinstance(instruction, str) or not instruction.strip():
            problems.append(
                f'{SETTING}[{index}] needs an "instruction" string; ignored'
            )
            continue
        if len(actions) == MAX_CUSTOM_ACTIONS:
            problems.append(
                f"{SETTING}: only the first {MAX_CUSTOM_ACTIONS} actions are offered"
            )
            break
        title = item.get("title") if isinstance(item, dict) else None
        if not isinstance(title, str) or not title.strip():
            title = instruction
        actions.append(CustomAction(title=_short(title), instruction=instruction))
    return actions, problems


class ProblemLog:
    """Logs each settings problem once, not on every code-action request."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def report(self, problems: list[str]) -> None:
        for problem in problems:
            if problem not in self._seen:
                self._seen.add(problem)
                logger.warning("%s", problem)


def fix_instruction(diagnostics: Sequence[types.Diagnostic]) -> str:
    """The Fix action's instruction: each diagnostic's line, severity, message,
    source and code."""
    lines = ["Fix the problems reported for this code:"]
    for diagnostic in diagnostics[:MAX_DIAGNOSTICS]:
        details = []
        if diagnostic.severity is not None:
            details.append(_SEVERITY.get(diagnostic.severity, "problem"))
        if diagnostic.source:
            details.append(f"source: {diagnostic.source}")
        if diagnostic.code is not None and diagnostic.code != "":
            details.append(f"code: {diagnostic.code}")
        message = "\n  ".join(diagnostic.message.strip().splitlines()) or "(no message)"
        where = f"line {diagnostic.range.start.line + 1}"
        lines.append(
            f"- {where}: {message}" + (f" ({', '.join(details)})" if details else "")
        )
    if len(diagnostics) > MAX_DIAGNOSTICS:
        lines.append(f"- and {len(diagnostics) - MAX_DIAGNOSTICS} more")
    lines.append("Change only what is needed to fix them.")
    return "\n".join(lines)


_SEVERITY = {
    types.DiagnosticSeverity.Error: "error",
    types.DiagnosticSeverity.Warning: "warning",
    types.DiagnosticSeverity.Information: "information",
    types.DiagnosticSeverity.Hint: "hint",
}


def code_actions(
    text: DocumentText,
    params: types.CodeActionParams,
    extra: Sequence[CustomAction],
) -> list[types.CodeAction]:
    """The actions for `params.range` of a document whose text is `text`.

    An empty range stands for its line. Fix is offered only when diagnostics
    overlap the range, and covers their ranges too.
    """
    range_ = _ordered(params.range)
    if _is_empty(range_):
        range_ = text.line_range(range_.start.line)
    uri = params.text_document.uri
    target = {"uri": uri, "range": _range_json(range_), "notify": True}

    actions = [
        _action(
            "Qwen: Explain", None, "qwen.chat", {"prompt": EXPLAIN_PROMPT, **target}
        )
    ]
    diagnostics = [d for d in params.context.diagnostics if _overlaps(d.range, range_)]
    if diagnostics:
        fix_range = _union([range_, *(d.range for d in diagnostics)])
        fix = _action(
            "Qwen: Fix "
            + ("this problem" if len(diagnostics) == 1 else "these problems"),
            types.CodeActionKind.QuickFix,
            "qwen.edit",
            {
                **target,
                "range": _range_json(fix_range),
                "instruction": fix_instruction(diagnostics),
            },
        )
        fix.diagnostics = diagnostics
        actions.append(fix)
    edits = [
        ("Add documentation", DOCUMENT_INSTRUCTION),
        ("Simplify", SIMPLIFY_INSTRUCTION),
        *((custom.title, custom.instruction) for custom in extra),
    ]
    for title, instruction in edits:
        actions.append(
            _action(f"Qwen: {title}", types.CodeActionKind.RefactorRewrite,
                    "qwen.edit", {**target, "instruction": instruction})
        )  # fmt: skip

    only = params.context.only
    if only:
        actions = [a for a in actions if _kind_matches(a.kind, only)]
    return actions


def as_commands(actions: list[types.CodeAction]) -> list[types.Command]:
    """For clients without code-action literals: the bare commands."""
    return [a.command for a in actions if a.command is not None]


def _kind_matches(kind: Any, only: Sequence[Any]) -> bool:
    if kind is None:
        return False
    value = str(getattr(kind, "value", kind))
    for wanted in only:
        prefix = str(getattr(wanted, "value", wanted))
        if prefix == "" or value == prefix or value.startswith(prefix + "."):
            return True
    return False


def _action(
    title: str,
    kind: types.CodeActionKind | None,
    command: str,
    argument: dict[str, Any],
) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=kind,
        command=types.Command(title=title, command=command, arguments=[argument]),
    )


def _short(title: str) -> str:
    title = " ".join(title.split())
    if len(title) <= MAX_TITLE_CHARS:
        return title
    return title[: MAX_TITLE_CHARS - 1] + "…"


def _key(position: types.Position) -> tuple[int, int]:
    return position.line, position.character


def _ordered(range_: types.Range) -> types.Range:
    if _key(range_.end) < _key(range_.start):
        return types.Range(start=range_.end, end=range_.start)
    return range_


def _is_empty(range_: types.Range) -> bool:
    return _key(range_.start) == _key(range_.end)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    """The ranges share a character, or an empty one lies within (or at an end
    of) the other."""
    a, b = _ordered(a), _ordered(b)
    if _is_empty(a) or _is_empty(b):
        return _key(a.start) <= _key(b.end) and _key(b.start) <= _key(a.end)
    return _key(a.start) < _key(b.end) and _key(b.start) < _key(a.end)


def _union(ranges: Sequence[types.Range]) -> types.Range:
    ordered = [_ordered(r) for r in ranges]
    return types.Range(
        start=min((r.start for r in ordered), key=_key),
        end=max((r.end for r in ordered), key=_key),
    )


def _range_json(range_: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": range_.start.line, "character": range_.start.character},
        "end": {"line": range_.end.line, "character": range_.end.character},
    }
