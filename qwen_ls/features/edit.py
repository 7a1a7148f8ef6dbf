"""Rewriting a range with the model: the prompt, the code taken out of the answer, and
the indentation and line endings put back as the document has them."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

SURROUNDING_LINES = 20

EDIT_SYSTEM_PROMPT = (
    "You are Qwen Code, a coding assistant that rewrites code inside the user's "
    "editor. Reply with the complete replacement for the selected code in one "
    "fenced code block and nothing else: no explanation, no surrounding code."
)

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[^\n]*\n"
    r"(?P<body>.*?)^(?P=indent)?(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class EditTarget:
    """The text being rewritten and what surrounds it, as plain strings."""

    path: str
    language: str
    before: str
    selected: str
    after: str
    prefix: str  # what stands on the selection's first line before it


def edit_prompt(target: EditTarget, instruction: str) -> str:
    lang = target.language
    fence = "````" if "```" in target.before + target.selected + target.after else "```"
    parts = [f"File: {target.path}" + (f" ({lang})" if lang else "")]
    if target.before.strip():
        parts.append(
            f"Code before the selection:\n{fence}{lang}\n{target.before}{fence}"
        )
    parts.append(
        f"Selected code to rewrite:\n{fence}{lang}\n{target.selected}\n{fence}"
    )
    if target.after.strip():
        parts.append(
            f"Code after the selection:\n{fence}{lang}\n{target.after}\n{fence}"
        )
    parts.append(
        f"Instruction: {instruction}\n\nReply with only the rewritten selected code "
        "in one fenced code block."
    )
    return "\n\n".join(parts)


def extract_code(answer: str) -> str:
    """The first fenced block of the answer, or the whole answer without fences."""
    match = _FENCE.search(answer)
    if match is not None:
        body = match.group("body")
        indent = match.group("indent")
        if indent:
            body = "".join(
                line[len(indent) :] if line.startswith(indent) else line
                for line in body.splitlines(keepends=True)
            )
        return body[:-1] if body.endswith("\n") else body
    return answer.strip("\n")


def fit_replacement(code: str, target: EditTarget) -> str:
    """Re-indent `code` to where the selection stands and use the document's line
    endings; keep a trailing newline when the selection had one."""
    selected = target.selected.replace("\r\n", "\n")
    code = code.replace("\r\n", "\n")

    if target.prefix == "":
        base = _common_indent(selected)
        if base and _common_indent(code) == "":
            code = textwrap.indent(code, base, lambda line: bool(line.strip()))
    elif target.prefix.strip() == "":
        # The selection starts after the line's indentation: the first line lands
        # there, the others take that indentation again.
        first, newline, rest = textwrap.dedent(code).partition("\n")
        already = len(_common_indent(rest)) >= len(
            _common_indent(selected.partition("\n")[2])
        )
        if not already:
            rest = textwrap.indent(rest, target.prefix, lambda line: bool(line.strip()))
        code = first + newline + rest
    else:
        # The selection starts after code on its line: only the first line moves.
        first, newline, rest = code.partition("\n")
        code = first.lstrip() + newline + rest

    if selected.endswith("\n") and not code.endswith("\n"):
        code += "\n"
    elif not selected.endswith("\n") and code.endswith("\n"):
        code = code[:-1]

    if "\r\n" in target.selected or (
        "\n" not in target.selected and "\r\n" in target.before + target.after
    ):
        code = code.replace("\n", "\r\n")
    return code


def _common_indent(text: str) -> str:
    indents = [
        re.match(r"[ \t]*", line).group(0)  # type: ignore[union-attr]
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


def target_range(
    lines: list[str], start: tuple[int, int], end: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """An empty range means the whole current line (its line break included)."""
    if start != end:
        return start, end
    line = start[0]
    if line + 1 < len(lines):
        return (line, 0), (line + 1, 0)
    return (line, 0), (line, len(lines[line]) if line < len(lines) else 0)


def edit_target(
    path: str,
    language: str,
    source: str,
    start_offset: int,
    end_offset: int,
) -> EditTarget:
    line_start = source.rfind("\n", 0, start_offset) + 1
    before_lines = source[:line_start].splitlines(keepends=True)[-SURROUNDING_LINES:]
    after_end = end_offset
    for _ in range(SURROUNDING_LINES):
        next_break = source.find("\n", after_end)
        if next_break < 0:
            after_end = len(source)
            break
        after_end = next_break + 1
    return EditTarget(
        path=path,
        language=language,
        before="".join(before_lines) + source[line_start:start_offset],
        selected=source[start_offset:end_offset],
        after=source[end_offset:after_end],
        prefix=source[line_start:start_offset],
    )
