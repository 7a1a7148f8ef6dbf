"""Rewriting a range with the model: which text is rewritten, the prompt, the code
taken out of the answer, the indentation and line breaks put back as the document has
them, and the WorkspaceEdit that carries it to the editor."""

from __future__ import annotations

import asyncio
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument

from qwen_ls.features.args import MAX_CONTEXT_CHARS, InvalidArguments
from qwen_ls.features.context import read_text
from qwen_ls.features.positions import DocumentText, line_break, split_lines

SURROUNDING_LINES = 20
SURROUNDING_CHARS = 4_000
"""At most this much code on each side of the selection goes along as context."""

EDIT_SYSTEM_PROMPT = (
    "You are Qwen Code, a coding assistant that rewrites code inside the user's "
    "editor. Reply with the complete replacement for the selected code in one "
    "fenced code block and nothing else: no explanation, no surrounding code."
)

_OPENING_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_THINKING = re.compile(r"^\s*<think>.*?(?:</think>|$)", re.DOTALL)


@dataclass(frozen=True)
class EditTarget:
    """The text being rewritten, where it is, and what surrounds it."""

    path: str
    language: str
    start: int  # offsets into the document's source, in code points
    end: int
    range: types.Range  # the same, in the client's position encoding
    before: str  # code before the selection, up to SURROUNDING_LINES lines
    selected: str
    after: str  # the rest of the selection's last line, and lines after it
    prefix: str  # what stands on the selection's first line before it
    eol: str  # the document's line break


def edit_target(
    text: DocumentText, client_range: types.Range, path: str, language: str
) -> EditTarget:
    """What `qwen.edit` rewrites for `client_range`.

    An empty range means its whole line, line break included. A range that starts
    in the indentation of its line starts at the line's start, so that the model
    sees (and the edit keeps) whole lines.
    """
    start, end = text.offset_at(client_range.start), text.offset_at(client_range.end)
    if start > end:
        start, end = end, start
    if start == end:
        start, end = _whole_line(text, start)
    line_start = text.line_start(start)
    if text.source[line_start:start].strip(" \t") == "":
        start = line_start

    if end - start > MAX_CONTEXT_CHARS:
        raise InvalidArguments(
            f"range: the selection is too large ({end - start} characters > "
            f"{MAX_CONTEXT_CHARS} limit); select a smaller range"
        )
    return EditTarget(
        path=path,
        language=language,
        start=start,
        end=end,
        range=text.range_at(start, end),
        before=_context_before(text.source, line_start, start),
        selected=text.source[start:end],
        after=_context_after(text.source, end),
        prefix=text.source[line_start:start],
        eol=_document_eol(text),
    )


def _whole_line(text: DocumentText, offset: int) -> tuple[int, int]:
    start = text.line_start(offset)
    line = text.position_at(start).line
    if line >= len(text.lines):
        return start, start
    return start, start + len(text.lines[line])


def _document_eol(text: DocumentText) -> str:
    for line in text.lines:
        eol = line_break(line)
        if eol:
            return eol
    return "\n"


def _context_before(source: str, line_start: int, start: int) -> str:
    """Up to SURROUNDING_LINES whole lines before the selection's line (and at most
    SURROUNDING_CHARS characters in all), then that line up to the selection."""
    prefix = source[line_start:start]
    room = SURROUNDING_CHARS - len(prefix)
    if room <= 0:
        return prefix[-SURROUNDING_CHARS:]
    lines = split_lines(source[max(0, line_start - room) : line_start])
    if line_start > room and lines:
        lines = lines[1:]  # cut somewhere inside: leave it out
    return "".join(lines[-SURROUNDING_LINES:]) + prefix


def _context_after(source: str, end: int) -> str:
    """The rest of the selection's last line, then up to SURROUNDING_LINES lines
    (and at most SURROUNDING_CHARS characters in all)."""
    lines = split_lines(source[end : end + SURROUNDING_CHARS])
    if end + SURROUNDING_CHARS < len(source) and len(lines) > 1:
        lines = lines[:-1]  # cut somewhere inside: leave it out
    return "".join(lines[: SURROUNDING_LINES + 1])


def edit_prompt(target: EditTarget, instruction: str) -> str:
    """The user message: the file, the code around the selection, the selection
    with its line numbers, and the instruction."""
    lang = target.language
    fence = _fence_for(target.before + target.selected + target.after)
    lines = _lines_label(target)
    parts = [f"File: {target.path}" + (f" ({lang})" if lang else "")]
    if target.before.strip():
        parts.append(
            f"Code before the selection:\n{_block(fence, lang, target.before)}"
        )
    parts.append(
        f"Selected code ({lines}) to rewrite:\n{_block(fence, lang, target.selected)}"
    )
    if target.after.strip():
        parts.append(f"Code after the selection:\n{_block(fence, lang, target.after)}")
    parts.append(
        f"Instruction: {instruction}\n\nReply with only the rewritten selected code "
        "in one fenced code block."
    )
    return "\n\n".join(parts)


def _lines_label(target: EditTarget) -> str:
    first, end = target.range.start.line + 1, target.range.end
    last = end.line + 1
    if end.character == 0 and end.line > target.range.start.line:
        last = end.line  # the selection ends with its last line's line break
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _fence_for(code: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
    return "`" * (longest + 1)


def _block(fence: str, lang: str, code: str) -> str:
    newline = "" if code.endswith(("\n", "\r")) or not code else "\n"
    return f"{fence}{lang}\n{code}{newline}{fence}"


def extract_code(answer: str) -> str | None:
    """The code in the model's answer: the body of its first fenced block (a fence
    closes only with a fence of the same character at least as long, so a block
    may hold shorter fences), or the whole answer when it has no fence. A leading
    `<think>` block, which some servers leave in the answer, is never code. None
    when there is no code at all."""
    answer = _THINKING.sub("", answer.replace("\r\n", "\n").replace("\r", "\n"))
    lines = answer.split("\n")
    for index, line in enumerate(lines):
        opening = _OPENING_FENCE.match(line)
        if opening is None or (
            opening.group("fence")[0] == "`" and "`" in opening.group("info")
        ):
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        body: list[str] = []
        for inner in lines[index + 1 :]:
            stripped = inner.strip()
            if stripped.startswith(fence) and stripped.strip(fence[0]) == "":
                return "\n".join(body)
            body.append(_remove_indent(inner, indent))
        code = "\n".join(body).rstrip()  # never closed: the answer ended first
        return code or None
    code = answer.strip("\n")
    return code if code.strip() else None


def _remove_indent(line: str, indent: str) -> str:
    """`line` without the fence's indentation (or as much of it as it has)."""
    count = 0
    while count < min(len(indent), len(line)) and line[count] in " \t":
        count += 1
    return line[count:]


def fit_replacement(code: str, target: EditTarget) -> str:
    """`code` as it should stand in the document: at the selection's indentation,
    with the document's line breaks, and ending in as many line breaks as the
    selection did (none when the code is empty: the selection is deleted)."""
    code = code.replace("\r\n", "\n").replace("\r", "\n")
    selected = target.selected.replace("\r\n", "\n").replace("\r", "\n")

    if target.prefix == "":
        base = _common_indent(selected)
        if selected.strip():
            code = textwrap.indent(
                textwrap.dedent(code), base, lambda line: bool(line.strip())
            )
    else:
        # The selection starts after code on its line: the first line goes there,
        # the lines after it at least as deep as that line.
        line_indent = target.prefix[: len(target.prefix) - len(target.prefix.lstrip())]
        first, newline, rest = code.partition("\n")
        if rest.strip() and not _common_indent(rest).startswith(line_indent):
            rest = textwrap.indent(
                textwrap.dedent(rest), line_indent, lambda line: bool(line.strip())
            )
        code = first.lstrip() + newline + rest

    code = code.rstrip("\n")
    if code:
        code += "\n" * (len(selected) - len(selected.rstrip("\n")))
    return code.replace("\n", target.eol)


def _common_indent(text: str) -> str:
    indents = [
        line[: len(line) - len(line.lstrip(" \t"))]
        for line in text.split("\n")
        if line.strip()
    ]
    if not indents:
        return ""
    common = indents[0]
    for indent in indents[1:]:
        while not indent.startswith(common):
            common = common[:-1]
    return common


def workspace_edit(
    capabilities: types.ClientCapabilities,
    uri: str,
    version: int | None,
    range_: types.Range,
    new_text: str,
    label: str,
) -> types.WorkspaceEdit:
    """One text edit in the form the client takes: `documentChanges` (versioned,
    and as a change annotation that needs confirmation where the client supports
    them, so that it shows a preview) or the plain `changes` map."""
    edit_caps = (
        capabilities.workspace.workspace_edit if capabilities.workspace else None
    )
    if not (edit_caps and edit_caps.document_changes):
        return types.WorkspaceEdit(
            changes={uri: [types.TextEdit(range=range_, new_text=new_text)]}
        )

    annotations = None
    text_edit: types.TextEdit | types.AnnotatedTextEdit
    if edit_caps.change_annotation_support is not None:
        annotation_id = "qwen-edit"
        annotations = {
            annotation_id: types.ChangeAnnotation(
                label=label,
                needs_confirmation=True,
                description="Rewritten by the model; review before accepting",
            )
        }
        text_edit = types.AnnotatedTextEdit(
            range=range_, new_text=new_text, annotation_id=annotation_id
        )
    else:
        text_edit = types.TextEdit(range=range_, new_text=new_text)
    return types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=version
                ),
                edits=[text_edit],
            )
        ],
        change_annotations=annotations,
    )


def edit_label(instruction: str) -> str:
    first = instruction.strip().splitlines()[0] if instruction.strip() else "edit"
    return "Qwen: " + (first if len(first) <= 60 else first[:59] + "…")


@dataclass(frozen=True)
class Snapshot:
    """The document as `qwen.edit` read it when the request started."""

    uri: str  # as the client names it
    version: int | None  # None: the document was not open and was read from disk
    source: str
    path: str | None


def stale_reason(
    snapshot: Snapshot, current: TextDocument | None, on_disk: str | None
) -> str | None:
    """Why the edit computed for `snapshot` may no longer be applied, or None.

    `current` is the open document now (if open), `on_disk` the file's text now
    (read only when the document was not open at either time).
    """
    if snapshot.version is not None:
        if current is None:
            return "the document was closed while the model was answering"
        if current.version != snapshot.version:
            return (
                "the document changed while the model was answering (version "
                f"{snapshot.version}, now {current.version})"
            )
        return None
    if current is not None:
        if current.source != snapshot.source:
            return "the document was opened and changed while the model was answering"
        return None
    if on_disk is None:
        return "the file can no longer be read"
    if on_disk != snapshot.source:
        return "the file changed on disk while the model was answering"
    return None


async def source_on_disk(path: str | None) -> str | None:
    """The file's text now, read as when the request started; None if unreadable."""
    if path is None:
        return None
    try:
        return await asyncio.to_thread(read_text, Path(path))
    except (OSError, ValueError):
        return None


def replacement(
    answer: str, finish_reason: str | None, target: EditTarget
) -> tuple[str | None, str | None]:
    """The text that replaces the selection, or None and the reason there is none."""
    if finish_reason == "length":
        return None, "the answer was cut off at the model's token limit"
    code = extract_code(answer)
    if code is None:
        return None, "the model's answer holds no code"
    return fit_replacement(code, target), None


def edit_result(session_id: str, text: str, reason: str | None) -> dict[str, Any]:
    """The result of `qwen.edit`: applied, or the reason why not."""
    if reason is None:
        return {"sessionId": session_id, "applied": True, "text": text}
    return {
        "sessionId": session_id,
        "applied": False,
        "text": text,
        "reason": f"{reason}; nothing was changed",
    }
