"""Which code actions are offered for a range, and what their commands carry."""

from __future__ import annotations

from typing import Any

import pytest
from lsprotocol import types

from qwen_ls.features import code_actions as ca
from qwen_ls.features.positions import DocumentText

URI = "file:///p/a.py"
SOURCE = "import os\n\ndef f(x):\n    return undefined_name + x 🎉\n"


def rng(a: int, b: int, c: int, d: int) -> types.Range:
    return types.Range(types.Position(a, b), types.Position(c, d))


def params(
    range_: types.Range,
    diagnostics: list[types.Diagnostic] | None = None,
    only: list[str] | None = None,
) -> types.CodeActionParams:
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        range=range_,
        context=types.CodeActionContext(diagnostics=diagnostics or [], only=only),  # type: ignore[arg-type]
    )


def listing(
    p: types.CodeActionParams, extra: list[ca.CustomAction] | None = None
) -> list[types.CodeAction]:
    return ca.code_actions(DocumentText.of(SOURCE, "utf-16"), p, extra or [])


def argument(action: types.CodeAction) -> dict[str, Any]:
    assert action.command is not None and action.command.arguments
    return action.command.arguments[0]  # type: ignore[no-any-return]


UNDEFINED = types.Diagnostic(
    range=rng(3, 11, 3, 25),
    message="undefined name 'undefined_name'",
    severity=types.DiagnosticSeverity.Error,
    source="pyflakes",
    code="F821",
)
UNUSED = types.Diagnostic(
    range=rng(0, 0, 0, 9), message="'os' imported but unused", source="ruff", code=401
)


def test_actions_without_diagnostics() -> None:
    actions = listing(params(rng(2, 0, 4, 0)))
    assert [
        (a.title, a.kind, a.command.command if a.command else None) for a in actions
    ] == [
        ("Qwen: Explain", None, "qwen.chat"),
        ("Qwen: Add documentation", "refactor.rewrite", "qwen.edit"),
        ("Qwen: Simplify", "refactor.rewrite", "qwen.edit"),
    ]
    explain, document, simplify = (argument(a) for a in actions)
    whole = {"start": {"line": 2, "character": 0}, "end": {"line": 4, "character": 0}}
    assert explain == {
        "uri": URI,
        "range": whole,
        "notify": True,
        "prompt": ca.EXPLAIN_PROMPT,
    }
    assert document == {
        "uri": URI,
        "range": whole,
        "notify": True,
        "instruction": ca.DOCUMENT_INSTRUCTION,
    }
    assert simplify["instruction"] == ca.SIMPLIFY_INSTRUCTION
    assert all(
        a.edit is None and a.command.title == a.title for a in actions if a.command
    )


def test_empty_range_stands_for_its_line_in_client_units() -> None:
    actions = listing(params(rng(3, 5, 3, 5)))
    line = {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 32}}
    assert {str(argument(a)["range"]) for a in actions} == {str(line)}


def test_fix_only_with_diagnostics_in_range_and_says_what_they_are() -> None:
    assert "Qwen: Fix this problem" not in [
        a.title for a in listing(params(rng(1, 0, 1, 0), [UNDEFINED]))
    ]

    actions = listing(params(rng(3, 4, 3, 12), [UNDEFINED, UNUSED]))
    fix = next(a for a in actions if a.kind == types.CodeActionKind.QuickFix)
    assert fix.title == "Qwen: Fix this problem"
    assert fix.diagnostics == [UNDEFINED]
    assert argument(fix)["range"] == {
        "start": {"line": 3, "character": 4},
        "end": {"line": 3, "character": 25},
    }, "the selection and the diagnostic's range"
    assert argument(fix)["instruction"] == (
        "Fix the problems reported for this code:\n"
        "- line 4: undefined name 'undefined_name' (error, source: pyflakes, code: F821)\n"
        "Change only what is needed to fix them."
    )

    both = listing(params(rng(0, 0, 4, 0), [UNDEFINED, UNUSED]))
    fix = next(a for a in both if a.kind == types.CodeActionKind.QuickFix)
    assert fix.title == "Qwen: Fix these problems"
    assert (
        "- line 1: 'os' imported but unused (source: ruff, code: 401)"
        in argument(fix)["instruction"]
    )


def test_fix_instruction_keeps_multiline_messages_readable() -> None:
    diagnostic = types.Diagnostic(range=rng(0, 0, 0, 1), message="first\nsecond")
    many = [diagnostic] * (ca.MAX_DIAGNOSTICS + 2)
    instruction = ca.fix_instruction(many)
    assert "- line 1: first\n  second\n" in instruction
    assert "- and 2 more" in instruction


@pytest.mark.parametrize(
    ("only", "titles"),
    [
        pytest.param(["quickfix"], ["Qwen: Fix this problem"], id="quickfix"),
        pytest.param(["refactor"], ["Qwen: Add documentation", "Qwen: Simplify"], id="refactor-prefix"),
        pytest.param(["refactor.rewrite"], ["Qwen: Add documentation", "Qwen: Simplify"], id="refactor-rewrite"),
        pytest.param(["source.organizeImports"], [], id="source"),
        pytest.param(["refactorx"], [], id="not-a-prefix"),
        pytest.param([""], ["Qwen: Fix this problem", "Qwen: Add documentation", "Qwen: Simplify"], id="empty-kind"),
    ],
)  # fmt: skip
def test_only_filters_by_kind(only: list[str], titles: list[str]) -> None:
    actions = listing(params(rng(3, 0, 3, 30), [UNDEFINED], only=only))
    assert [a.title for a in actions] == titles


def test_custom_actions_follow_the_built_in_ones() -> None:
    extra = [ca.CustomAction(title="Add type hints", instruction="Add type hints.")]
    actions = listing(params(rng(2, 0, 4, 0)), extra)
    assert actions[-1].title == "Qwen: Add type hints"
    assert actions[-1].kind == types.CodeActionKind.RefactorRewrite
    assert argument(actions[-1])["instruction"] == "Add type hints."


@pytest.mark.parametrize(
    ("settings", "actions", "problems"),
    [
        pytest.param({}, [], [], id="none"),
        pytest.param({"qwenLs": {"codeActions": [{"title": "Hints", "instruction": "Add type hints."}]}}, [("Hints", "Add type hints.")], [], id="object"),
        pytest.param({"qwenLs": {"codeActions": ["Translate the comments\n  to English."]}}, [("Translate the comments to English.", "Translate the comments\n  to English.")], [], id="plain-string"),
        pytest.param({"qwenLs": {"codeActions": [{"instruction": "x" * 100}]}}, [("x" * 59 + "…", "x" * 100)], [], id="long-title"),
        pytest.param({"qwenLs": {"codeActions": [{"title": "T"}, 5, " "]}}, [], ['qwenLs.codeActions[0] needs an "instruction" string; ignored', 'qwenLs.codeActions[1] needs an "instruction" string; ignored', 'qwenLs.codeActions[2] needs an "instruction" string; ignored'], id="bad-entries"),
        pytest.param({"qwenLs": {"codeActions": {"a": 1}}}, [], ["qwenLs.codeActions must be a list of {title, instruction}; ignored"], id="not-a-list"),
        pytest.param({"qwenLs": "x"}, [], [], id="section-not-an-object"),
    ],
)  # fmt: skip
def test_custom_actions_from_settings(
    settings: dict[str, Any], actions: list[tuple[str, str]], problems: list[str]
) -> None:
    found, found_problems = ca.custom_actions(settings)
    assert [(a.title, a.instruction) for a in found] == actions
    assert found_problems == problems


def test_custom_actions_are_capped() -> None:
    found, problems = ca.custom_actions({"qwenLs": {"codeActions": ["x"] * 25}})
    assert len(found) == ca.MAX_CUSTOM_ACTIONS
    assert problems == ["qwenLs.codeActions: only the first 20 actions are offered"]


def test_problems_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    log = ca.ProblemLog()
    log.report(["a", "b"])
    log.report(["a"])
    assert [r.getMessage() for r in caplog.records] == ["a", "b"]


def test_commands_for_clients_without_literals() -> None:
    actions = listing(params(rng(2, 0, 4, 0)))
    commands = ca.as_commands(actions)
    assert [c.title for c in commands] == [a.title for a in actions]
    assert commands[0].command == "qwen.chat"
