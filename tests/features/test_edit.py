"""qwen.edit without LSP: what is rewritten, the prompt, the code taken out of the
answer, how it is fitted back, and the WorkspaceEdit that carries it."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.workspace import TextDocument

from qwen_ls.features import edit
from qwen_ls.features.args import MAX_CONTEXT_CHARS, InvalidArguments
from qwen_ls.features.positions import DocumentText
from tests.textedits import marked, position_of


def target_for(
    text: str, encoding: str = "utf-16", path: str = "/p/a.py"
) -> edit.EditTarget:
    """The target for the «»-marked range of `text`."""
    source, start, end = marked(text)
    client_range = types.Range(
        position_of(source, start, encoding), position_of(source, end, encoding)
    )
    return edit.edit_target(
        DocumentText.of(source, encoding), client_range, path, "python"
    )


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        pytest.param("Here:\n```python\ndef f():\n    return 1\n```\nDone.", "def f():\n    return 1", id="fence-with-language"),
        pytest.param("```\nx = 1\n```", "x = 1", id="fence-without-language"),
        pytest.param("~~~js\nlet a = 1;\n~~~", "let a = 1;", id="tilde-fence"),
        pytest.param("````markdown\nText\n```python\nx = 1\n```\n````", "Text\n```python\nx = 1\n```", id="nested-backticks"),
        pytest.param("~~~\n```\nx\n```\n~~~", "```\nx\n```", id="backticks-inside-tildes"),
        pytest.param("```\nx\n`````", "x", id="longer-closing-fence"),
        pytest.param("x = 1\n", "x = 1", id="no-fence"),
        pytest.param("\n\n  x = 1\n\n", "  x = 1", id="no-fence-blank-lines-around"),
        pytest.param("1. Replace it:\n   ```py\n   if a:\n       b()\n   ```", "if a:\n    b()", id="indented-fence"),
        pytest.param("  ```\n  a\n b\n\n  ```", "a\nb\n", id="indented-fence-short-lines"),
        pytest.param("```py\nfirst()\n```\nor\n```py\nsecond()\n```", "first()", id="several-blocks-first-wins"),
        pytest.param("```py\r\nx = 1\r\n```\r\n", "x = 1", id="crlf-answer"),
        pytest.param("```py\nx = 1\n\n", "x = 1", id="never-closed"),
        pytest.param("```\n```", "", id="empty-block-deletes"),
        pytest.param("```\n\n```", "", id="blank-block"),
        pytest.param("<think>maybe ```x```\n```\nno\n```</think>\n```py\nyes\n```", "yes", id="think-block-skipped"),
        pytest.param("``` a`b\nx", "``` a`b\nx", id="backtick-in-info-is-no-fence"),
        pytest.param("", None, id="empty-answer"),
        pytest.param(" \n\n", None, id="blank-answer"),
        pytest.param("```py\n", None, id="only-an-opening-fence"),
        pytest.param("<think>all thinking", None, id="only-thinking"),
    ],
)  # fmt: skip
def test_extract_code(answer: str, code: str | None) -> None:
    assert edit.extract_code(answer) == code


@pytest.mark.parametrize(
    ("document", "code", "replacement"),
    [
        pytest.param("class A:\n«    def f(self):\n        return 1\n»x = 2\n", "def f(self):\n    return 2", "    def f(self):\n        return 2\n", id="dedented-answer-reindented"),
        pytest.param("class A:\n«    def f(self):\n        return 1\n»", "    def f(self):\n        return 2\n", "    def f(self):\n        return 2\n", id="answer-already-indented"),
        pytest.param("class A:\n«    def f(self):\n        return 1\n»", "        def f(self):\n            return 2", "    def f(self):\n        return 2\n", id="over-indented-answer"),
        pytest.param("class A:\n    «def f(self):\n        return 1\n»", "def f(self):\n    return 2", "    def f(self):\n        return 2\n", id="selection-starts-after-indentation"),
        pytest.param("class A:\n  «  def f(self):\n        return 1»\n", "def f(self):\n    return 2", "    def f(self):\n        return 2", id="selection-starts-inside-indentation"),
        pytest.param("if a:\n    x = «foo(1)»\n", "bar(2)\n", "bar(2)", id="after-code-one-line"),
        pytest.param("if a:\n    x = «foo(1)»\n", "  bar(\n    2,\n)", "bar(\n        2,\n    )", id="after-code-lines-follow-the-line"),
        pytest.param("if a:\n    x = «foo(1)»\n", "bar(\n        2,\n    )", "bar(\n        2,\n    )", id="after-code-already-deep-enough"),
        pytest.param("def f():\n«\tif x:\n\t\ty()\n»", "if x:\n\tz()", "\tif x:\n\t\tz()\n", id="tabs"),
        pytest.param("a:\r\n«    b\r\n    c\r\n»d\r\n", "x\ny\n", "    x\r\n    y\r\n", id="crlf-document"),
        pytest.param("a:\r\n«    b\r\n»", "x\r\ny", "    x\r\n    y\r\n", id="crlf-answer-crlf-document"),
        pytest.param("a:\r    «b»\r", "x\ny", "    x\r    y", id="cr-document"),
        pytest.param("«x = 1»", "y = 2\n\n", "y = 2", id="no-trailing-newline-kept-none"),
        pytest.param("«x = 1\n»", "y = 2", "y = 2\n", id="trailing-newline-added"),
        pytest.param("«x = 1\n\n»y", "y = 2\n", "y = 2\n\n", id="two-trailing-newlines-kept"),
        pytest.param("«    x = 1\n»", "", "", id="empty-code-deletes-the-lines"),
        pytest.param("def f():\n«    a()\n\n    b()\n»", "a()\n\nc()\n", "    a()\n\n    c()\n", id="blank-lines-get-no-indentation"),
        pytest.param("def f():\n«   \n»", "    new()\n", "    new()\n", id="blank-selection-keeps-the-answer"),
    ],
)  # fmt: skip
def test_fit_replacement(document: str, code: str, replacement: str) -> None:
    assert edit.fit_replacement(code, target_for(document)) == replacement


@pytest.mark.parametrize(
    ("document", "selected", "start", "end"),
    [
        pytest.param("a\n  b«»b\nc\n", "  bb\n", (1, 0), (2, 0), id="empty-range-is-its-line"),
        pytest.param("a\nlast 🎉«»", "last 🎉", (1, 0), (1, 7), id="empty-range-on-last-line"),
        pytest.param("a\n«»", "", (1, 0), (1, 0), id="empty-range-after-final-newline"),
        pytest.param("a\nb «世界🎉»", "世界🎉", (1, 2), (1, 6), id="range-ending-at-eof"),
        pytest.param("x\r\n«y»\r\n", "y", (1, 0), (1, 1), id="crlf"),
        pytest.param("  «a»\n", "  a", (0, 0), (0, 3), id="widened-to-line-start"),
    ],
)  # fmt: skip
def test_edit_target_range(
    document: str, selected: str, start: tuple[int, int], end: tuple[int, int]
) -> None:
    target = target_for(document)
    assert target.selected == selected
    assert target.range == types.Range(types.Position(*start), types.Position(*end))
    source = marked(document)[0]
    assert source[target.start : target.end] == selected


def test_reversed_range_is_put_in_order() -> None:
    doc = DocumentText.of("abc\n", "utf-16")
    target = edit.edit_target(
        doc, types.Range(types.Position(0, 2), types.Position(0, 1)), "p", ""
    )
    assert target.selected == "b"


def test_B52_oversized_selection_is_refused() -> None:
    doc = DocumentText.of("x" * (MAX_CONTEXT_CHARS + 1), "utf-16")
    whole = types.Range(types.Position(0, 0), types.Position(0, MAX_CONTEXT_CHARS + 1))
    with pytest.raises(InvalidArguments) as raised:
        edit.edit_target(doc, whole, "p", "")
    assert str(raised.value) == (
        f"range: the selection is too large ({MAX_CONTEXT_CHARS + 1} characters > "
        f"{MAX_CONTEXT_CHARS} limit); select a smaller range"
    )


def test_context_around_the_selection_is_bounded() -> None:
    lines = "".join(f"line {i}\n" for i in range(100))
    long = "y" * 50_000
    source = lines + long + "SELECTED" + long + "\n" + lines
    start = source.index("SELECTED")
    doc = DocumentText.of(source, "utf-16")
    target = edit.edit_target(doc, doc.range_at(start, start + 8), "p", "")
    assert target.selected == "SELECTED"
    assert target.before == "y" * edit.SURROUNDING_CHARS
    assert target.after == "y" * edit.SURROUNDING_CHARS

    doc = DocumentText.of(lines + "end\n" + lines, "utf-16")
    target = edit.edit_target(
        doc, types.Range(types.Position(100, 0), types.Position(100, 3)), "p", ""
    )
    assert target.before == "".join(f"line {i}\n" for i in range(80, 100))
    assert target.after == "\n" + "".join(f"line {i}\n" for i in range(20))


def test_prompt_has_file_lines_code_and_instruction() -> None:
    target = target_for("import os\n\ndef f():\n«    return ```x```\n»\nprint(f())\n")
    prompt = edit.edit_prompt(target, "Make it return y")
    assert prompt == (
        "File: /p/a.py (python)\n\n"
        "Code before the selection:\n````python\nimport os\n\ndef f():\n````\n\n"
        "Selected code (line 4) to rewrite:\n````python\n    return ```x```\n````\n\n"
        "Code after the selection:\n````python\n\nprint(f())\n````\n\n"
        "Instruction: Make it return y\n\n"
        "Reply with only the rewritten selected code in one fenced code block."
    )


def test_prompt_names_the_selected_lines() -> None:
    prompt = edit.edit_prompt(target_for("a\n«b\nc»\nd"), "x")
    assert "Selected code (lines 2-3) to rewrite:\n```python\nb\nc\n```" in prompt
    prompt = edit.edit_prompt(target_for("a\n«b\nc\n»d"), "x")
    assert "Selected code (lines 2-3) to rewrite:" in prompt
    prompt = edit.edit_prompt(target_for("a = «1»"), "x")
    assert "Code before the selection:\n```python\na = \n```" in prompt


@pytest.mark.parametrize(
    ("answer", "finish", "code", "reason"),
    [
        pytest.param("```\nx\n```", "stop", "x", None, id="code"),
        pytest.param("```\nx\n", "length", None, "the answer was cut off at the model's token limit", id="cut-off"),
        pytest.param("", "stop", None, "the model's answer holds no code", id="no-code"),
    ],
)  # fmt: skip
def test_replacement(
    answer: str, finish: str, code: str | None, reason: str | None
) -> None:
    assert edit.replacement(answer, finish, target_for("«y»")) == (code, reason)


def _caps(document_changes: bool | None, annotations: bool) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(
                document_changes=document_changes,
                change_annotation_support=types.ChangeAnnotationsSupportOptions()
                if annotations
                else None,
            ),
        )
    )


RANGE = types.Range(types.Position(1, 0), types.Position(2, 0))


def test_workspace_edit_with_annotation_needs_confirmation() -> None:
    result = edit.workspace_edit(
        _caps(True, True), "file:///a.py", 3, RANGE, "x\n", "Qwen: Fix"
    )
    assert result == types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri="file:///a.py", version=3
                ),
                edits=[
                    types.AnnotatedTextEdit(
                        range=RANGE, new_text="x\n", annotation_id="qwen-edit"
                    )
                ],
            )
        ],
        change_annotations={
            "qwen-edit": types.ChangeAnnotation(
                label="Qwen: Fix",
                needs_confirmation=True,
                description="Rewritten by the model; review before accepting",
            )
        },
    )


def test_workspace_edit_versioned_without_annotations() -> None:
    result = edit.workspace_edit(
        _caps(True, False), "file:///a.py", None, RANGE, "x", "l"
    )
    assert result == types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri="file:///a.py", version=None
                ),
                edits=[types.TextEdit(range=RANGE, new_text="x")],
            )
        ]
    )


@pytest.mark.parametrize("document_changes", [None, False])
def test_workspace_edit_falls_back_to_changes(document_changes: bool | None) -> None:
    # Annotations need documentChanges: a client without them gets a plain edit.
    result = edit.workspace_edit(
        _caps(document_changes, True), "file:///a.py", 3, RANGE, "x", "l"
    )
    assert result == types.WorkspaceEdit(
        changes={"file:///a.py": [types.TextEdit(range=RANGE, new_text="x")]}
    )
    assert edit.workspace_edit(types.ClientCapabilities(), "u", 1, RANGE, "x", "l") == (
        types.WorkspaceEdit(changes={"u": [types.TextEdit(range=RANGE, new_text="x")]})
    )


def _doc(source: str, version: int | None) -> TextDocument:
    return TextDocument("file:///a.py", source, version=version)


@pytest.mark.parametrize(
    ("snapshot_version", "current", "on_disk", "reason"),
    [
        pytest.param(3, _doc("a", 3), None, None, id="open-same-version"),
        pytest.param(3, _doc("a", 4), None, "the document changed while the model was answering (version 3, now 4)", id="open-edited"),
        pytest.param(3, None, "a", "the document was closed while the model was answering", id="open-then-closed"),
        pytest.param(None, None, "a", None, id="disk-unchanged"),
        pytest.param(None, None, "b", "the file changed on disk while the model was answering", id="disk-changed"),
        pytest.param(None, None, None, "the file can no longer be read", id="disk-gone"),
        pytest.param(None, _doc("a", 7), None, None, id="disk-then-opened-same-text"),
        pytest.param(None, _doc("b", 7), None, "the document was opened and changed while the model was answering", id="disk-then-opened-edited"),
    ],
)  # fmt: skip
def test_stale_reason(
    snapshot_version: int | None,
    current: TextDocument | None,
    on_disk: str | None,
    reason: str | None,
) -> None:
    snapshot = edit.Snapshot(
        uri="file:///a.py", version=snapshot_version, source="a", path="/a.py"
    )
    assert edit.stale_reason(snapshot, current, on_disk) == reason


async def test_source_on_disk_keeps_crlf_and_drops_a_bom(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfa\r\nb\rc")
    assert await edit.source_on_disk(str(path)) == "a\r\nb\rc"
    assert await edit.source_on_disk(str(tmp_path / "missing")) is None
    assert await edit.source_on_disk(None) is None


@pytest.mark.parametrize(
    ("instruction", "label"),
    [
        ("Fix it", "Qwen: Fix it"),
        ("Fix the problems:\n- line 1", "Qwen: Fix the problems:"),
        ("x" * 80, "Qwen: " + "x" * 59 + "…"),
    ],
)
def test_edit_label(instruction: str, label: str) -> None:
    assert edit.edit_label(instruction) == label


def test_edit_result() -> None:
    assert edit.edit_result("s", "x", None) == {
        "sessionId": "s",
        "applied": True,
        "text": "x",
    }
    assert edit.edit_result("s", "x", "cancelled") == {
        "sessionId": "s",
        "applied": False,
        "text": "x",
        "reason": "cancelled; nothing was changed",
    }
