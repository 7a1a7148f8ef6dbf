"""Client positions <-> offsets in every encoding, on the lines that break naive code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from qwen_ls.features.positions import (
    DocumentText,
    SyncedDocument,
    SyncedWorkspace,
    split_lines,
)
from tests.textedits import offset_of, position_of

ENCODINGS = ["utf-8", "utf-16", "utf-32"]

TEXTS = [
    pytest.param("x = '🎉🎉'  # party\ny = 1\n", id="emoji"),
    pytest.param("s = '世界'  # 世界\n", id="cjk"),
    pytest.param("café = 'e\u0301'\nnext\n", id="combining"),
    pytest.param("one\r\ntwo 🎉\r\nthree\r\n", id="crlf"),
    pytest.param("old\rmac\rends", id="cr"),
    pytest.param("first\nlast 世界🎉", id="no-final-newline"),
    pytest.param("a\n\n\nb\n", id="blank-lines"),
    pytest.param("page\x0cbreak\u2028same line\n", id="form-feed-and-u2028"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("text", TEXTS)
def test_every_offset_round_trips(text: str, encoding: str) -> None:
    doc = DocumentText.of(text, encoding)
    for offset in range(len(text) + 1):
        if text[offset - 1 : offset + 1] == "\r\n":
            continue  # between CR and LF is no position
        expected = position_of(text, offset, encoding)
        assert doc.position_at(offset) == expected, offset
        assert doc.offset_at(expected) == offset == offset_of(text, expected, encoding)


@pytest.mark.parametrize(
    ("text", "position", "offset"),
    [
        pytest.param("abc\ndef", types.Position(0, 99), 3, id="past-line-end"),
        pytest.param("abc\r\ndef", types.Position(0, 99), 3, id="past-line-end-crlf"),
        pytest.param("abc\ndef", types.Position(1, 99), 7, id="past-last-line-end"),
        pytest.param("abc\ndef", types.Position(9, 0), 7, id="past-last-line"),
        pytest.param("abc\n", types.Position(1, 0), 4, id="after-final-newline"),
        pytest.param("🎉x", types.Position(0, 1), 0, id="inside-surrogate-pair"),
        pytest.param("", types.Position(0, 5), 0, id="empty"),
    ],
)
def test_positions_outside_the_text_are_clamped(
    text: str, position: types.Position, offset: int
) -> None:
    assert DocumentText.of(text, "utf-16").offset_at(position) == offset


def test_utf8_inside_a_character_means_its_start() -> None:
    doc = DocumentText.of("世x", "utf-8")
    assert [doc.offset_at(types.Position(0, c)) for c in range(5)] == [0, 0, 0, 1, 2]


def test_end_of_file_without_newline_stays_on_the_last_line() -> None:
    doc = DocumentText.of("a\nb🎉", "utf-16")
    assert doc.position_at(5) == types.Position(1, 3)
    assert DocumentText.of("a\nb\n", "utf-16").position_at(4) == types.Position(2, 0)


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("a\r\nb\rc\nd", ["a\r\n", "b\r", "c\n", "d"]),
        ("a\x0cb\u2028c\x85d\n", ["a\x0cb\u2028c\x85d\n"]),
        ("a\n", ["a\n"]),
        ("", []),
    ],
)
def test_lines_break_only_where_lsp_breaks_them(text: str, lines: list[str]) -> None:
    assert split_lines(text) == lines


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", 16), ("utf-16", 9), ("utf-32", 8), ("bogus", 9), (None, 9)],
)
def test_line_range_counts_in_the_negotiated_encoding(
    encoding: str | None, expected: int
) -> None:
    doc = DocumentText.of("0\nx 世界 🎉e\u0301\r\nz", encoding)
    assert doc.line_range(1) == types.Range(
        types.Position(1, 0), types.Position(1, expected)
    )
    assert doc.line_range(7).start == types.Position(2, 1)


@pytest.mark.parametrize(
    ("source", "encoding", "change", "text", "expected"),
    [
        pytest.param("a\x0cb\nc\n", "utf-16", ((1, 0), (1, 0)), "X", "a\x0cb\nXc\n", id="form-feed"),
        pytest.param("a\u2028b\nc", "utf-16", ((1, 0), (1, 1)), "Z", "a\u2028b\nZ", id="u2028"),
        pytest.param("ab\ncd", "utf-16", ((0, 1), (0, 9)), "Z", "aZ\ncd", id="past-line-end"),
        pytest.param("ab\r\ncd", "utf-16", ((0, 2), (1, 0)), "", "abcd", id="join-crlf-lines"),
        pytest.param("🎉a\n", "utf-16", ((0, 2), (0, 3)), "b", "🎉b\n", id="after-emoji-utf16"),
        pytest.param("世a\n", "utf-8", ((0, 3), (0, 4)), "b", "世b\n", id="after-cjk-utf8"),
        pytest.param("x\n", "utf-32", ((1, 0), (1, 0)), "y", "x\ny", id="at-eof"),
    ],
)  # fmt: skip
def test_synced_document_applies_changes_where_the_client_meant(
    source: str,
    encoding: str,
    change: tuple[tuple[int, int], tuple[int, int]],
    text: str,
    expected: str,
) -> None:
    workspace = SyncedWorkspace(None, position_encoding=encoding)
    workspace.put_text_document(
        types.TextDocumentItem("file:///a", "python", 1, source)
    )
    workspace.update_text_document(
        types.VersionedTextDocumentIdentifier(version=2, uri="file:///a"),
        types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(*change[0]), types.Position(*change[1])),
            text=text,
        ),
    )
    document = workspace.get_text_document("file:///a")
    assert isinstance(document, SyncedDocument)
    assert (document.source, document.version) == (expected, 2)


# Property: for any text and any offset that is not inside a line break, converting to
# a client position and back gives the offset, and agrees with an independent
# conversion through Python's codecs (tests/textedits.py).
_CHARS = st.sampled_from(
    [
        "a",
        " ",
        "é",
        "e\u0301",
        "世",
        "界",
        "🎉",
        "𝄞",
        "\n",
        "\r\n",
        "\t",
        "\x0c",
        "\u2028",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(_CHARS, max_size=40),
    where=st.floats(min_value=0, max_value=1),
    encoding=st.sampled_from(ENCODINGS),
)
def test_position_round_trip_property(
    pieces: list[str], where: float, encoding: str
) -> None:
    text = "".join(pieces)
    doc = DocumentText.of(text, encoding)
    offset = int(where * len(text))
    if 0 < offset < len(text) and text[offset - 1 : offset + 1] == "\r\n":
        offset -= 1  # inside a CRLF is not a position
    position = doc.position_at(offset)
    assert doc.offset_at(position) == offset
    assert position == position_of(text, offset, encoding)
    assert offset_of(text, position, encoding) == offset
