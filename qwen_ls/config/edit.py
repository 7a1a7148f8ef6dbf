"""Write settings.json keys and other small config files in place: only the bytes of
the key being set change, so the user's comments, trailing commas, key order,
indentation, line endings and BOM survive, and every write is atomic.

json-five reads the file into a model that keeps every comment and round-trips
byte for byte, but offers no way to insert a member with the file's layout; so it is
used for the positions of keys and values, and the edit is a splice of the text."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qwen_ls.config.settings import parse_jsonc

# json-five is imported by the first edit, where it is used: at start-up it would
# cost about 25 ms and 3 MB, and most sessions never edit a settings file.
if TYPE_CHECKING:
    from json5.model import JSONObject, Node

BOM = "\ufeff"
_INDENT = re.compile(r"[ \t]*")
_MISSING = object()


class SettingsNotWritable(Exception):
    """A settings file cannot be edited safely: it does not parse (the message names
    file, line and column), its top level is not an object, or it cannot be read or
    written. The file is left exactly as it was."""


def set_setting(path: Path, key: str | Sequence[str], value: Any) -> None:
    """Set ``key`` (dotted, e.g. ``model.name``, or a sequence of parts when a part
    holds a dot) to the JSON ``value``; missing objects and the file are created."""
    parts = _parts(key)
    doc = _Document.read(path)
    doc.set(parts, value)
    doc.write(expect=(parts, value))


def remove_setting(path: Path, key: str | Sequence[str]) -> bool:
    """Remove ``key``; True if the file had it. Emptied parent objects are kept."""
    parts = _parts(key)
    if not path.exists():
        return False
    doc = _Document.read(path)
    removed = False
    while doc.remove(parts):  # duplicates too, or JSON.parse would keep an older one
        removed = True
    if removed:
        doc.write(expect=(parts, _MISSING))
    return removed


def atomic_write(
    path: Path,
    data: bytes,
    *,
    new_mode: int = 0o644,
    mode: int | None = None,
    dir_mode: int = 0o700,
) -> None:
    """Replace ``path`` with ``data`` through a temporary file in the same directory.

    The file gets ``mode`` if given; otherwise an existing file keeps its permission
    bits and a new one gets ``new_mode``. Missing directories are created with
    ``dir_mode``. A symlink is followed, so the file it points to is replaced and the
    link stays. Raises OSError; no temporary file is left behind.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    target.parent.mkdir(mode=dir_mode, parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = new_mode

    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _parts(key: str | Sequence[str]) -> list[str]:
    parts = key.split(".") if isinstance(key, str) else list(key)
    if not parts or any(not part for part in parts):
        raise ValueError(f"not a settings key: {key!r}")
    return parts


@dataclass
class _Edit:
    start: int
    end: int
    text: str


class _Document:
    """The text of one settings file and the json-five model of it."""

    def __init__(self, path: Path, text: str, bom: bool) -> None:
        self.path = path
        self.text = text
        self.bom = bom
        self.original = text
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self.root: JSONObject | None = None
        self._parse()

    @classmethod
    def read(cls, path: Path) -> _Document:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(path, "", bom=False)
        except OSError as exc:
            raise SettingsNotWritable(_os_problem("cannot read", path, exc)) from exc
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SettingsNotWritable(
                f"{path}: not UTF-8 text (byte {exc.start}); the file was not changed"
            ) from exc
        bom = text.startswith(BOM)
        return cls(path, text.removeprefix(BOM), bom)

    def _parse(self) -> None:
        from json5.loader import ModelLoader, loads
        from json5.model import JSONObject
        from json5.utils import JSON5DecodeError

        self.root = None
        if not self.text.strip():
            return
        try:
            parse_jsonc(self.text)
        except json.JSONDecodeError as exc:
            raise SettingsNotWritable(
                f"{self.path}: invalid JSON at line {exc.lineno} column {exc.colno} "
                f"({exc.msg}); the file was not changed — fix it, then try again"
            ) from exc
        try:
            model = loads(self.text, loader=ModelLoader())
        except JSON5DecodeError as exc:  # JSONC that json-five cannot place
            raise SettingsNotWritable(
                f"{self.path}: cannot be edited safely ({exc.msg}); the file was not "
                "changed — edit it by hand"
            ) from exc
        if not isinstance(model.value, JSONObject):
            raise SettingsNotWritable(
                f"{self.path}: the top level must be a JSON object {{...}}; the file "
                "was not changed"
            )
        self.root = model.value

    # -- edits ---------------------------------------------------------------

    def set(self, parts: list[str], value: Any) -> None:
        from json5.model import JSONObject

        if self.root is None:
            member = {parts[0]: _nest(parts[1:], value)}
            self.text = self.text + _render(member, "", self) + self.newline
            self._parse()
            return
        obj = self.root
        for depth, part in enumerate(parts):
            found = _member(obj, part)
            rest = parts[depth + 1 :]
            if found is None:
                self._apply([self._insert(obj, part, _nest(rest, value))])
                return
            _key, node = found
            if not rest or not isinstance(node, JSONObject):
                # A non-object where an object is needed (older flat settings such as
                # "model": "name") is replaced: the new key supersedes it.
                start, end = self._span(node)
                indent = self._indent_at(self._start(found[0]))
                text = _render(_nest(rest, value), indent, self)
                self._apply([_Edit(start, end, text)])
                return
            obj = node

    def remove(self, parts: list[str]) -> bool:
        from json5.model import JSONObject

        if self.root is None:
            return False
        obj = self.root
        for part in parts[:-1]:
            found = _member(obj, part)
            if found is None or not isinstance(found[1], JSONObject):
                return False
            obj = found[1]
        index = _index(obj, parts[-1])
        if index is None:
            return False
        self._apply(self._removal(obj, index))
        return True

    def _insert(self, obj: JSONObject, key: str, value: Any) -> _Edit:
        open_end = self._start(obj) + 1
        close = self._end(obj) - 1
        if not obj.keys:
            inner = self.text[open_end:close]
            outer = self._indent_at(open_end - 1)
            child = outer + self._unit()
            member = (
                f"{json.dumps(key, ensure_ascii=False)}: {_render(value, child, self)}"
            )
            if "\n" in inner:
                return _Edit(open_end, open_end, self.newline + child + member)
            if inner.strip():  # only an inline comment inside
                return _Edit(open_end, open_end, f" {member} ")
            return _Edit(
                open_end, close, self.newline + child + member + self.newline + outer
            )

        last_key, last_value = obj.keys[-1], obj.values[-1]
        after = self._end(last_value)
        if obj.trailing_comma is not None:
            after = self._end(obj.trailing_comma)
        line_end = self._line_end(after)
        key_start = self._start(last_key)
        own_line = not self.text[self._line_start(key_start) : key_start].strip()
        indent = self._indent_at(key_start) if own_line else ""
        rendered = _render(value, indent, self) if own_line else _compact(value)
        member = f"{json.dumps(key, ensure_ascii=False)}: {rendered}"
        comma = "," if obj.trailing_comma is not None else ""

        if own_line and close > line_end and _only_comment(self.text[after:line_end]):
            text = self.newline + indent + member + comma
            if obj.trailing_comma is None:
                # the comma goes right after the value, before any comment
                tail = self.text[self._end(last_value) : line_end]
                return _Edit(self._end(last_value), line_end, "," + tail + text)
            return _Edit(line_end, line_end, text)
        if obj.trailing_comma is not None:
            return _Edit(after, after, f" {member},")
        return _Edit(after, after, f", {member}")

    def _removal(self, obj: JSONObject, index: int) -> list[_Edit]:
        key, value = obj.keys[index], obj.values[index]
        start, end = self._start(key), self._end(value)
        last = index == len(obj.keys) - 1
        comma = _comma_after(self.text, end)
        if comma is not None and (not last or obj.trailing_comma is not None):
            end = comma + 1

        line_start = self._line_start(start)
        line_end = self._line_end(end)
        whole_lines = not self.text[line_start:start].strip() and _only_comment(
            self.text[end:line_end]
        )
        if whole_lines:  # a comment after the member on its line goes with it
            start, end = line_start, self._next_line(line_end)
        elif not last:
            end = _skip_spaces(self.text, end)

        edits = [_Edit(start, end, "")]
        if last and obj.trailing_comma is None and index > 0:
            before = _comma_after(self.text, self._end(obj.values[index - 1]))
            if before is not None:
                if whole_lines:
                    edits.append(_Edit(before, before + 1, ""))
                else:  # `"a": 1, "b": 2` -> drop `, "b": 2` together
                    edits = [_Edit(before, end, "")]
        return edits

    def _apply(self, edits: list[_Edit]) -> None:
        """Splice ``edits`` (offsets into the text as last parsed), then parse again."""
        for edit in sorted(edits, key=lambda e: e.start, reverse=True):
            self.text = self.text[: edit.start] + edit.text + self.text[edit.end :]
        try:
            self._parse()
        except SettingsNotWritable as exc:
            raise SettingsNotWritable(
                f"{self.path}: cannot be edited safely; the file was not changed"
            ) from exc

    # -- positions -----------------------------------------------------------

    def _start(self, node: Node) -> int:
        # json-five keeps the tokens a node was read from; their character offsets
        # are exact where its line/column properties are derived.
        if node._tok is None:
            raise SettingsNotWritable(f"{self.path}: cannot be edited safely")
        return int(node._tok.index)

    def _end(self, node: Node) -> int:
        if node._end_tok is None:
            raise SettingsNotWritable(f"{self.path}: cannot be edited safely")
        return int(node._end_tok.end)

    def _span(self, node: Node) -> tuple[int, int]:
        return self._start(node), self._end(node)

    def _line_start(self, offset: int) -> int:
        return self.text.rfind("\n", 0, offset) + 1

    def _line_end(self, offset: int) -> int:
        """The offset of the line break ending the line (before a CR of a CRLF)."""
        end = self.text.find("\n", offset)
        end = len(self.text) if end < 0 else end
        return end - 1 if end > offset and self.text[end - 1] == "\r" else end

    def _next_line(self, line_end: int) -> int:
        if self.text.startswith("\r\n", line_end):
            return line_end + 2
        return line_end + 1 if self.text.startswith("\n", line_end) else line_end

    def _indent_at(self, offset: int) -> str:
        start = self._line_start(offset)
        match = _INDENT.match(self.text, start)
        return match.group(0) if match else ""

    def _unit(self) -> str:
        """The file's indentation step, from the root object's first member."""
        if self.root is not None and self.root.keys:
            key_start = self._start(self.root.keys[0])
            before = self.text[self._line_start(key_start) : key_start]
            if before and not before.strip():
                return before
        return "  "

    # -- output --------------------------------------------------------------

    def write(self, expect: tuple[list[str], Any]) -> None:
        """Write the edited text once it reads back with the expected value."""
        if self.text == self.original:
            return
        parts, value = expect
        if value is not _MISSING:
            value = json.loads(json.dumps(value))
        if _lookup(parse_jsonc(self.text), parts) != value:
            raise SettingsNotWritable(
                f"{self.path}: cannot be edited safely; the file was not changed"
            )
        data = ((BOM if self.bom else "") + self.text).encode("utf-8")
        try:
            atomic_write(self.path, data, new_mode=0o600)
        except OSError as exc:
            raise SettingsNotWritable(
                _os_problem("cannot write", self.path, exc)
            ) from exc


def _member(obj: JSONObject, name: str) -> tuple[Node, Node] | None:
    index = _index(obj, name)
    return None if index is None else (obj.keys[index], obj.values[index])


def _index(obj: JSONObject, name: str) -> int | None:
    from json5.model import String

    # The last duplicate is the one JSON.parse keeps, so that is the one edited.
    for index in range(len(obj.keys) - 1, -1, -1):
        key = obj.keys[index]
        if isinstance(key, String) and key.characters == name:
            return index
    return None


def _nest(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def _render(value: Any, indent: str, doc: _Document) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=doc._unit())
    return text.replace("\n", doc.newline + indent)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _lookup(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _only_comment(text: str) -> bool:
    """Whether ``text`` (the rest of a line) holds nothing but spaces and comments."""
    text = text.strip()
    if text.startswith("//"):
        return True
    if text.startswith("/*"):
        end = text.find("*/")
        return end >= 0 and _only_comment(text[end + 2 :])
    return not text


def _comma_after(text: str, offset: int) -> int | None:
    """The offset of the comma that follows a value, skipping spaces and comments."""
    i = offset
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
        else:
            return i if text[i] == "," else None
    return None


def _skip_spaces(text: str, offset: int) -> int:
    while offset < len(text) and text[offset] in " \t":
        offset += 1
    return offset


def _os_problem(action: str, path: Path, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return f"{action} {path}: permission denied (check owner/permissions)"
    return f"{action} {path}: {exc.strerror or exc}"
