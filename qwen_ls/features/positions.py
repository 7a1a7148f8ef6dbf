"""Positions as the client counts them: lines split only where LSP splits them
(`\\n`, `\\r\\n`, `\\r`) and characters counted in the negotiated encoding (UTF-16 by
default, UTF-8 or UTF-32 when the client prefers them).

pygls' own helpers split lines with `str.splitlines` (which also breaks at form feeds
and U+2028) and place the end of a file without a trailing newline on a line that
does not exist, so edits that go back to the client are computed here.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"


def split_lines(text: str) -> list[str]:
    """The lines of `text` with their line breaks; a text ending in a line break
    has no empty last line (LSP's last position is then on the line after it)."""
    lines, start = [], 0
    for match in _LINE_BREAK.finditer(text):
        lines.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


def line_break(line: str) -> str:
    """The line break that ends `line` ('' for the last line of a file)."""
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def units(text: str, encoding: str) -> int:
    """How many code units of `encoding` `text` takes."""
    if encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _normalise(encoding: object) -> str:
    value = str(getattr(encoding, "value", encoding) or UTF16).lower()
    return value if value in (UTF8, UTF32) else UTF16


@dataclass(frozen=True)
class DocumentText:
    """One version of a document, for converting client positions and offsets."""

    source: str
    encoding: str = UTF16

    @classmethod
    def of(cls, source: str, encoding: object) -> DocumentText:
        return cls(source, _normalise(encoding))

    @cached_property
    def lines(self) -> list[str]:
        return split_lines(self.source)

    @cached_property
    def _starts(self) -> list[int]:
        starts, offset = [], 0
        for line in self.lines:
            starts.append(offset)
            offset += len(line)
        return starts

    def line_start(self, offset: int) -> int:
        """The offset where the line holding `offset` starts."""
        if not self.lines:
            return 0
        line = bisect_right(self._starts, offset) - 1
        if self._after_final_break(line, offset):
            return len(self.source)
        return self._starts[line]

    def _after_final_break(self, line: int, offset: int) -> bool:
        text = self.lines[line]
        return offset - self._starts[line] >= len(text) and line_break(text) != ""

    def line_content(self, line: int) -> str:
        """The text of `line` without its line break ('' past the last line)."""
        if line >= len(self.lines):
            return ""
        text = self.lines[line]
        return text[: len(text) - len(line_break(text))]

    def offset_at(self, position: types.Position) -> int:
        """The offset (in code points) of a client position.

        A line past the end means the end of the file; a character past the end of
        its line means the end of that line's text (before its line break), as LSP
        says; a position inside a character (half of a surrogate pair, a byte in the
        middle of a UTF-8 sequence) means the start of that character.
        """
        if position.line >= len(self.lines):
            return len(self.source)
        content = self.line_content(position.line)
        wanted, counted = position.character, 0
        for index, char in enumerate(content):
            counted += units(char, self.encoding)
            if counted > wanted:
                return self._starts[position.line] + index
        return self._starts[position.line] + len(content)

    def position_at(self, offset: int) -> types.Position:
        """The client position of an offset; the end of a file without a final line
        break stays on its last line."""
        offset = max(0, min(offset, len(self.source)))
        if not self.lines:
            return types.Position(line=0, character=0)
        line = bisect_right(self._starts, offset) - 1
        start = self._starts[line]
        if self._after_final_break(line, offset):
            return types.Position(line=line + 1, character=0)
        column = min(offset - start, len(self.line_content(line)))
        return types.Position(
            line=line,
            character=units(self.lines[line][:column], self.encoding),
        )

    def range_at(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.position_at(start), end=self.position_at(end))

    def line_range(self, line: int) -> types.Range:
        """The text of one line, without its line break, in client units."""
        if line >= len(self.lines):
            end = self.position_at(len(self.source))
            return types.Range(start=end, end=end)
        return types.Range(
            start=types.Position(line=line, character=0),
            end=types.Position(
                line=line,
                character=units(self.line_content(line), self.encoding),
            ),
        )


class SyncedDocument(TextDocument):
    """An open document whose incremental changes land where the client meant:
    pygls applies them to lines split at form feeds and U+2028 too, and moves a
    position past the end of a line to one character before its end."""

    def _apply_incremental_change(
        self, change: types.TextDocumentContentChangePartial
    ) -> None:
        source = self.source
        text = DocumentText.of(source, self.position_codec.encoding)
        start, end = (
            text.offset_at(change.range.start),
            text.offset_at(change.range.end),
        )
        if start > end:
            start, end = end, start
        self._source = source[:start] + change.text + source[end:]


class SyncedWorkspace(Workspace):
    """pygls' workspace, keeping open documents as `SyncedDocument`s."""

    @classmethod
    def like(cls, workspace: Workspace) -> SyncedWorkspace:
        return cls(
            workspace.root_uri,
            workspace._sync_kind,
            list(workspace.folders.values()),
            workspace.position_encoding,
        )

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return SyncedDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self.position_codec,
        )
