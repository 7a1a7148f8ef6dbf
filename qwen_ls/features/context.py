"""The code a request is about: the open buffer's text (kept in sync incrementally) or
the file on disk, cut to the requested range in the client's position encoding."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote

from lsprotocol import types
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument, Workspace

from qwen_ls.features.args import MAX_CONTEXT_CHARS, InvalidArguments, Range
from qwen_ls.features.chat import CodeContext
from qwen_ls.features.positions import DocumentText

_LANGUAGES = {
    ".py": "python", ".js": "javascript", ".ts": "typescript", ".tsx": "tsx",
    ".jsx": "jsx", ".rs": "rust", ".go": "go", ".c": "c", ".h": "c", ".cpp": "cpp",
    ".cc": "cpp", ".hpp": "cpp", ".java": "java", ".kt": "kotlin", ".rb": "ruby",
    ".php": "php", ".cs": "csharp", ".swift": "swift", ".lua": "lua", ".sh": "bash",
    ".md": "markdown", ".json": "json", ".toml": "toml", ".yaml": "yaml",
    ".yml": "yaml", ".html": "html", ".css": "css", ".sql": "sql", ".zig": "zig",
}  # fmt: skip


class ContextError(ValueError):
    """The document named by a request cannot be read."""


def language_of(document: TextDocument) -> str:
    if document.language_id:
        return document.language_id
    return _LANGUAGES.get(Path(document.path or "").suffix.lower(), "")


async def document_for(workspace: Workspace, uri: str) -> TextDocument:
    """The open document, or the file on disk read once, off the event loop."""
    opened = workspace.text_documents.get(unquote(uri))
    if opened is not None:
        return opened
    path = to_fs_path(uri)
    if path is None:
        raise ContextError(f"uri: {uri} is not a file the server can read")
    try:
        source = await asyncio.to_thread(read_text, Path(path))
    except OSError as exc:
        raise ContextError(
            f"uri: cannot read {path}: {exc.strerror or exc} (open it in the editor "
            "or check the path)"
        ) from None
    return TextDocument(uri, source, position_codec=workspace.position_codec)


def read_text(path: Path) -> str:
    if path.stat().st_size > MAX_CONTEXT_CHARS * 4:
        raise InvalidArguments(
            f"uri: {path} is too large to send as context "
            f"(over {MAX_CONTEXT_CHARS} characters); select a range"
        )
    # Bytes, not text mode: text mode would turn CRLF into LF, and positions and
    # edits must match the file as the editor will load it (which drops a BOM).
    return path.read_bytes().decode("utf-8-sig", errors="replace")


def code_context(document: TextDocument, range_: Range | None) -> CodeContext:
    """The range's text (or the whole document), refused when over the size limit."""
    lines: tuple[int, int] | None = None
    if range_ is None:
        text = document.source
    else:
        positions = DocumentText.of(document.source, document.position_codec.encoding)
        start = positions.offset_at(
            types.Position(range_.start.line, range_.start.character)
        )
        end = positions.offset_at(types.Position(range_.end.line, range_.end.character))
        text = document.source[start:end]
        last = range_.end.line + 1
        if range_.end.character == 0 and range_.end.line > range_.start.line:
            last -= 1  # the range ends with its last line's line break
        lines = (range_.start.line + 1, last)
    if len(text) > MAX_CONTEXT_CHARS:
        field = "range" if range_ is not None else "uri"
        raise InvalidArguments(
            f"{field}: the context is too large ({len(text)} characters > "
            f"{MAX_CONTEXT_CHARS} limit); select a smaller range"
        )
    return CodeContext(
        path=document.path or document.uri,
        language=language_of(document),
        text=text,
        lines=lines,
    )
