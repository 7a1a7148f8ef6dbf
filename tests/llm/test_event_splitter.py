"""EventSplitter: the events of an event stream, however the bytes are cut."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_ls.llm.sse import EventSplitter

# Text without line breaks in the SSE sense (CR, LF); anything else may appear,
# including U+2028 and NEL, which are not line breaks here.
values = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"])
)
events = st.lists(
    st.tuples(st.sampled_from(["", "error", "ping"]), st.lists(values, min_size=1)),
    max_size=6,
)


def encode(stream: list[tuple[str, list[str]]], newline: str, space: bool) -> bytes:
    out = []
    for kind, data in stream:
        if kind:
            out.append(f"event:{' ' if space else ''}{kind}{newline}")
        out.append(": a comment" + newline)
        for line in data:
            gap = " " if space or line.startswith(" ") else ""
            out.append(f"data:{gap}{line}{newline}")
        out.append(newline)
    return "".join(out).encode()


def split(body: bytes, cuts: list[int]) -> list[tuple[str, str]]:
    splitter = EventSplitter()
    bounds = [0, *sorted({c % (len(body) + 1) for c in cuts}), len(body)]
    found = []
    for start, end in itertools.pairwise(bounds):
        found += splitter.feed(body[start:end])
    return found


@given(
    events,
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.booleans(),
    st.booleans(),
    st.lists(st.integers(min_value=0), max_size=8),
)
def test_events_survive_any_cut(
    stream: list[tuple[str, list[str]]],
    newline: str,
    space: bool,
    bom: bool,
    cuts: list[int],
) -> None:
    body = (b"\xef\xbb\xbf" if bom else b"") + encode(stream, newline, space)

    expected = [(kind or "message", "\n".join(data)) for kind, data in stream]
    assert split(body, cuts) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"data: a\n\n", [("message", "a")], id="plain"),
        pytest.param(b"data:  a\n\n", [("message", " a")], id="one-space-removed"),
        pytest.param(b"data\n\n", [("message", "")], id="field-without-colon"),
        pytest.param(b"event: x\n\n", [], id="no-data-no-event"),
        pytest.param(
            b"id: 1\nretry: 5\ndata: a\n\n", [("message", "a")], id="ignored-fields"
        ),
        pytest.param(b"data: a\n", [], id="unfinished-event-dropped"),
        pytest.param(
            b"data: \xff\n\n", [("message", "\ufffd")], id="bad-utf8-replaced"
        ),
        pytest.param(
            b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n", [], id="only-one-bom-skipped"
        ),
    ],
)
def test_rules(body: bytes, expected: list[tuple[str, str]]) -> None:
    assert EventSplitter().feed(body) == expected
