"""Parse one .env file in the python-dotenv dialect, reporting what python-dotenv
passes over in silence: bad lines, unterminated quotes, duplicates, undefined
references. Problems never quote a value."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import PurePath

from dotenv.parser import Binding, parse_stream
from dotenv.variables import Variable, parse_variables
from pydantic import BaseModel, Field

# The start of an assignment up to its value, as python-dotenv reads it.
_HEAD = re.compile(
    r"\s*(?:export[^\S\n]+)?(?:'(?P<qkey>[^']+)'|(?P<key>[^=#\s]+))[^\S\n]*=[^\S\n]*"
)
_CLOSED = {
    '"': re.compile(r'"(?:\\.|[^"\\])*"', re.DOTALL),
    "'": re.compile(r"'(?:\\.|[^'\\])*'", re.DOTALL),
}
_EXPORT = re.compile(r"\s*export[^\S\n]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class EnvFile(BaseModel):
    """The assignments of one .env file, in file order, last occurrence winning."""

    path: PurePath
    values: dict[str, str] = Field(default_factory=dict, repr=False)
    problems: list[str] = Field(default_factory=list)
    # Keys after an unterminated quote: they read as part of that value, so not loaded.
    hidden: list[str] = Field(default_factory=list)
    unterminated_line: int | None = None


def decode(data: bytes, path: PurePath) -> tuple[str, str | None]:
    """Text with a BOM removed and CRLF/CR turned into LF, or a problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", f"{path} line {line}: not UTF-8 text; file ignored: save it as UTF-8"
    return text.replace("\r\n", "\n").replace("\r", "\n"), None


def parse_env_bytes(data: bytes, path: PurePath, environ: Mapping[str, str]) -> EnvFile:
    """Parse file content; ``environ`` serves ``${VAR}`` after earlier lines."""
    text, problem = decode(data, path)
    if problem is not None:
        return EnvFile(path=path, problems=[problem])
    return parse_env_text(text, path, environ)


def parse_env_text(text: str, path: PurePath, environ: Mapping[str, str]) -> EnvFile:
    """Parse LF-terminated text (see :func:`decode`)."""
    result = EnvFile(path=path)
    seen: dict[str, list[int]] = {}
    offset = 0
    for binding in parse_stream(io.StringIO(text)):
        start = offset
        offset += len(binding.original.string)
        line = _first_line(binding)

        if binding.error:
            if _opens_unclosed_quote(text, start):
                _stop_at_unterminated(result, text, start, offset, line)
                break
            result.problems.append(_bad_line(path, line, binding.original.string))
            continue
        if binding.key is None or binding.value is None:
            if binding.key is not None and not _EXPORT.match(binding.original.string):
                result.problems.append(_bad_line(path, line, binding.original.string))
            continue  # blank line, comment, or `export NAME` (re-exports a shell var)

        value = binding.value
        if not _single_quoted(binding.original.string):
            value = _expand(value, binding.key, line, result, environ)
        result.values[binding.key] = value
        seen.setdefault(binding.key, []).append(line)

    result.problems.extend(_duplicates(path, seen))
    return result


def _first_line(binding: Binding) -> int:
    """The line where the statement starts (python-dotenv counts blank lines too)."""
    raw = binding.original.string
    leading = raw[: len(raw) - len(raw.lstrip())]
    return binding.original.line + leading.count("\n")


def _single_quoted(raw: str) -> bool:
    head = _HEAD.match(raw)
    return head is not None and raw[head.end() : head.end() + 1] == "'"


def _opens_unclosed_quote(text: str, start: int) -> bool:
    head = _HEAD.match(text, start)
    if head is None:
        return False
    quote = text[head.end() : head.end() + 1]
    pattern = _CLOSED.get(quote)
    return pattern is not None and pattern.match(text, head.end()) is None


def _stop_at_unterminated(
    result: EnvFile, text: str, start: int, end: int, line: int
) -> None:
    # Under the multi-line quoting rule the value runs on to the end of the file, so
    # nothing after the opening quote can be trusted to be an assignment.
    head = _HEAD.match(text, start)
    assert head is not None
    name = head["key"] or head["qkey"]
    rest = text[end:]
    hidden = [
        b.key for b in parse_stream(io.StringIO(rest)) if b.key and b.value is not None
    ]
    result.hidden = list(dict.fromkeys(hidden))
    result.unterminated_line = line
    if result.hidden:
        result.problems.append(
            f"{result.path}: unterminated quoted value starting at line {line} "
            f"(may hide {', '.join(result.hidden)}); {_shown(name)} and every line "
            "after it were not loaded: add the closing quote"
        )
    elif rest.strip():
        result.problems.append(
            f"{result.path}: unterminated quoted value starting at line {line}; "
            f"{_shown(name)} and every line after it were not loaded: add the closing "
            "quote"
        )
    else:
        result.problems.append(
            f"{result.path}: unterminated quote at line {line}; {_shown(name)} not "
            "loaded: add the closing quote"
        )


def _shown(name: str) -> str:
    """A key name fit for a message, or a neutral word if it may be a pasted secret."""
    return name if _NAME.fullmatch(name) else "the value"


def _bad_line(path: PurePath, line: int, raw: str) -> str:
    # Only the text before `=` may be shown, and only if it is a plain name: a line
    # without `=` might be a pasted key.
    statement = raw.strip()
    before, has_equals, _ = statement.partition("=")
    before = before.strip().removeprefix("export").strip()
    if has_equals and not before:
        return f"{path} line {line}: no variable name before '='; line ignored"
    if has_equals and _NAME.fullmatch(before):
        return f"{path} line {line}: cannot parse the value of {before}; line ignored"
    return f"{path} line {line}: not a KEY=value assignment; line ignored"


def _expand(
    value: str, key: str, line: int, result: EnvFile, environ: Mapping[str, str]
) -> str:
    """``${VAR}`` from earlier lines, then the process; a bare ``$`` stays as is."""
    parts: list[str] = []
    for atom in parse_variables(value):
        if not isinstance(atom, Variable):
            parts.append(atom.resolve({}))
            continue
        name, default = atom.name, atom.default
        found = result.values.get(name)
        if found is None:
            found = environ.get(name) or None
        if found is None and default is None:
            result.problems.append(
                f"{result.path} line {line}: {_shown(key)} refers to "
                f"${{{_shown(name)}}}, which is not defined in an earlier line or the "
                "environment; it expands to nothing"
            )
        parts.append(found if found is not None else default or "")
    return "".join(parts)


def _duplicates(path: PurePath, seen: dict[str, list[int]]) -> list[str]:
    problems = []
    for key, lines in seen.items():
        if len(lines) < 2:
            continue
        times = "twice" if len(lines) == 2 else f"{len(lines)} times"
        numbers = ", ".join(str(n) for n in lines)
        problems.append(
            f"{_shown(key)} defined {times} in {path} (lines {numbers}); "
            f"using line {lines[-1]}"
        )
    return problems
