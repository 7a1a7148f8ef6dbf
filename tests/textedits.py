"""Positions and text edits computed the way an editor would, independently of the
server's code: columns are counted by encoding the line with Python's codecs."""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types

_BREAK = re.compile(r"\r\n|\r|\n")
_CODEC = {"utf-8": ("utf-8", 1), "utf-16": ("utf-16-le", 2), "utf-32": ("utf-32-le", 4)}


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _BREAK.finditer(text))]


def _content(text: str, start: int) -> str:
    match = _BREAK.search(text, start)
    return text[start : match.start() if match else len(text)]


def units(text: str, encoding: str) -> int:
    codec, width = _CODEC[encoding]
    return len(text.encode(codec)) // width


def position_of(text: str, offset: int, encoding: str) -> types.Position:
    starts = _line_starts(text)
    line = max(i for i, start in enumerate(starts) if start <= offset)
    return types.Position(line, units(text[starts[line] : offset], encoding))


def offset_of(text: str, position: types.Position, encoding: str) -> int:
    starts = _line_starts(text)
    if position.line >= len(starts):
        raise AssertionError(f"line {position.line} is past the end of the text")
    start = starts[position.line]
    content = _content(text, start)
    codec, width = _CODEC[encoding]
    data = content.encode(codec)
    if position.character * width > len(data):
        raise AssertionError(f"character {position.character} is past the line's end")
    return start + len(data[: position.character * width].decode(codec))


def marked(text: str) -> tuple[str, int, int]:
    """`text` without its «» markers, and the offsets they marked."""
    start = text.index("«")
    end = text.index("»") - 1
    return text.replace("«", "").replace("»", ""), start, end


def range_of(text: str, start: int, end: int, encoding: str) -> dict[str, Any]:
    a, b = position_of(text, start, encoding), position_of(text, end, encoding)
    return {
        "start": {"line": a.line, "character": a.character},
        "end": {"line": b.line, "character": b.character},
    }


def text_edits(edit: types.WorkspaceEdit, uri: str) -> list[types.TextEdit]:
    """The edits of `uri` in a WorkspaceEdit of either form."""
    if edit.document_changes is not None:
        out: list[types.TextEdit] = []
        for change in edit.document_changes:
            assert isinstance(change, types.TextDocumentEdit)
            if change.text_document.uri == uri:
                out.extend(change.edits)  # type: ignore[arg-type]
        return out
    assert edit.changes is not None
    return list(edit.changes.get(uri, []))


def apply(text: str, edits: list[types.TextEdit], encoding: str) -> str:
    spans = sorted(
        (
            (
                offset_of(text, e.range.start, encoding),
                offset_of(text, e.range.end, encoding),
                e.new_text,
            )
            for e in edits
        ),
        reverse=True,
    )
    for start, end, new_text in spans:
        text = text[:start] + new_text + text[end:]
    return text
