"""Model-backed code actions. Listing them is cheap: nothing calls the model until the
user picks one, and each carries the command that does the work, so clients without
`codeAction/resolve` can run them too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

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
MAX_CUSTOM_ACTIONS = 20


@dataclass(frozen=True)
class CustomAction:
    title: str
    instruction: str


def custom_actions(settings: dict[str, Any]) -> tuple[list[CustomAction], list[str]]:
    """Extra actions from the `qwenLs.codeActions` setting: a list of
    `{"title": ..., "instruction": ...}` objects (or plain instruction strings)."""
    raw = (settings.get("qwenLs") or {}).get("codeActions")
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], ["qwenLs.codeActions must be a list of {title, instruction}"]
    actions, problems = [], []
    for index, item in enumerate(raw[:MAX_CUSTOM_ACTIONS]):
        if isinstance(item, str) and item.strip():
            actions.append(CustomAction(title=item.strip()[:60], instruction=item))
        elif (
            isinstance(item, dict)
            and isinstance(item.get("instruction"), str)
            and item["instruction"].strip()
        ):
            title = item.get("title") if isinstance(item.get("title"), str) else None
            actions.append(
                CustomAction(
                    title=(title or item["instruction"]).strip()[:60],
                    instruction=item["instruction"],
                )
            )
        else:
            problems.append(
                f'qwenLs.codeActions[{index}] needs an "instruction" string; ignored'
            )
    return actions, problems


def overlaps(a: types.Range, b: types.Range) -> bool:
    """Ranges overlap, an empty range touching the other one included."""
    a_start, a_end = (a.start.line, a.start.character), (a.end.line, a.end.character)
    b_start, b_end = (b.start.line, b.start.character), (b.end.line, b.end.character)
    return a_start <= b_end and b_start <= a_end


def fix_instruction(diagnostics: list[types.Diagnostic]) -> str:
    lines = ["Fix the problems reported for this code:"]
    for diagnostic in diagnostics:
        origin = " ".join(
            str(part)
            for part in (diagnostic.source, diagnostic.code)
            if part is not None and part != ""
        )
        where = f"line {diagnostic.range.start.line + 1}"
        lines.append(
            f"- {where}: {diagnostic.message}" + (f" [{origin}]" if origin else "")
        )
    lines.append("Change only what is needed to fix them.")
    return "\n".join(lines)


def code_actions(
    params: types.CodeActionParams, extra: list[CustomAction]
) -> list[types.CodeAction]:
    uri = params.text_document.uri
    range_ = params.range
    target = {"uri": uri, "range": _range_json(range_)}
    only = params.context.only

    actions = [
        _action("Qwen: Explain", types.CodeActionKind.Empty, "qwen.chat",
                {"prompt": EXPLAIN_PROMPT, **target}),
    ]  # fmt: skip
    diagnostics = [d for d in params.context.diagnostics if overlaps(d.range, range_)]
    if diagnostics:
        fix = _action(
            "Qwen: Fix "
            + ("this problem" if len(diagnostics) == 1 else "these problems"),
            types.CodeActionKind.QuickFix,
            "qwen.edit",
            {**target, "instruction": fix_instruction(diagnostics)},
        )
        fix.diagnostics = diagnostics
        actions.append(fix)
    actions.append(
        _action("Qwen: Add documentation", types.CodeActionKind.RefactorRewrite,
                "qwen.edit", {**target, "instruction": DOCUMENT_INSTRUCTION})
    )  # fmt: skip
    actions.append(
        _action("Qwen: Simplify", types.CodeActionKind.RefactorRewrite, "qwen.edit",
                {**target, "instruction": SIMPLIFY_INSTRUCTION})
    )  # fmt: skip
    for custom in extra:
        actions.append(
            _action(f"Qwen: {custom.title}", types.CodeActionKind.RefactorRewrite,
                    "qwen.edit", {**target, "instruction": custom.instruction})
        )  # fmt: skip

    if only:
        actions = [a for a in actions if _kind_matches(a.kind, only)]
    return actions


def _kind_matches(kind: Any, only: Sequence[Any]) -> bool:
    value = str(getattr(kind, "value", kind) or "")
    for wanted in only:
        prefix = str(getattr(wanted, "value", wanted))
        if prefix == "" or value == prefix or value.startswith(prefix + "."):
            return True
    return False


def _action(
    title: str, kind: types.CodeActionKind, command: str, argument: dict[str, Any]
) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=kind,
        command=types.Command(title=title, command=command, arguments=[argument]),
        data={"command": command},
    )


def _range_json(range_: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": range_.start.line, "character": range_.start.character},
        "end": {"line": range_.end.line, "character": range_.end.character},
    }
