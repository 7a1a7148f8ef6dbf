"""Work-done progress and partial results for one long-running request.

One `RequestProgress` per request: it picks the token (the client's `workDoneToken`, or
one created with `window/workDoneProgress/create` when the client supports it), sends
exactly one `begin` and one `end`, throttles `report`s, coalesces partial results, and
turns a `window/workDoneProgress/cancel` into a callback.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

logger = logging.getLogger(__name__)

REPORT_INTERVAL = 0.05
PARTIAL_INTERVAL = 1 / 60
MESSAGE_WIDTH = 80


def client_supports_work_done(server: LanguageServer) -> bool:
    window = server.client_capabilities.window
    return bool(window and window.work_done_progress is True)


class RequestProgress:
    """The progress channels of one request; always `end` it, also on errors."""

    def __init__(
        self,
        server: LanguageServer,
        *,
        work_done_token: types.ProgressToken | None,
        partial_token: types.ProgressToken | None,
        title: str = "Qwen",
    ) -> None:
        self._server = server
        if not isinstance(work_done_token, (int, str)):
            work_done_token = None  # not a valid ProgressToken: make our own
        self._token = work_done_token
        self._client_token = work_done_token is not None
        self._partial_token = partial_token
        self._title = title
        self._begun = False
        self._ended = False
        self._loop = asyncio.get_running_loop()

        self._last_report = 0.0
        self._pending_message: Callable[[], str] | None = None
        self._report_handle: asyncio.TimerHandle | None = None

        self._last_partial = 0.0
        self._pending: list[tuple[str, list[str]]] = []
        self._partial_handle: asyncio.TimerHandle | None = None
        self._partial_extra: dict[str, Any] = {}

    @property
    def token(self) -> types.ProgressToken | None:
        return self._token if self._begun else None

    async def begin(
        self, message: str | None = None, on_cancel: Callable[[], None] | None = None
    ) -> None:
        if self._token is None and client_supports_work_done(self._server):
            token = str(uuid.uuid4())
            try:
                await self._server.work_done_progress.create_async(token)
            except Exception as exc:  # the client refused the token: don't use it
                logger.debug("workDoneProgress/create failed: %s", exc)
            else:
                self._token = token
        if self._token is None:
            return

        self._server.work_done_progress.begin(
            self._token,
            types.WorkDoneProgressBegin(
                title=self._title, cancellable=True, message=message
            ),
        )
        self._begun = True
        self._last_report = time.monotonic()
        if on_cancel is not None:
            future = self._server.work_done_progress.tokens.get(self._token)
            if future is not None:
                future.add_done_callback(
                    lambda f: on_cancel() if f.cancelled() else None
                )

    def report(self, message: str) -> None:
        """A short live status; sent at most every 50 ms, the latest one wins."""
        self.report_lazy(lambda: message)

    def report_lazy(self, message: Callable[[], str]) -> None:
        """Like `report`, but the text is only computed when it is sent."""
        if not self._begun or self._ended:
            return
        self._pending_message = message
        if self._report_handle is not None:
            return
        wait = self._last_report + REPORT_INTERVAL - time.monotonic()
        if wait <= 0:
            self._flush_report()
        else:
            self._report_handle = self._loop.call_later(wait, self._flush_report)

    def _flush_report(self) -> None:
        self._report_handle = None
        if self._ended or self._pending_message is None or self._token is None:
            return
        self._server.work_done_progress.report(
            self._token,
            types.WorkDoneProgressReport(message=_one_line(self._pending_message())),
        )
        self._pending_message = None
        self._last_report = time.monotonic()

    def partial(self, key: str, text: str, **extra: Any) -> None:
        """Send a piece of the answer on the partial-result token.

        The first piece goes out at once; pieces that follow faster than about 60 a
        second are merged, keeping their order.
        """
        if self._partial_token is None or not text or self._ended:
            return
        self._partial_extra = extra
        if self._pending and self._pending[-1][0] == key:
            self._pending[-1][1].append(text)  # joined once, when sent
        else:
            self._pending.append((key, [text]))
        if self._partial_handle is not None:
            return
        wait = self._last_partial + PARTIAL_INTERVAL - time.monotonic()
        if wait <= 0:
            self.flush_partial()
        else:
            self._partial_handle = self._loop.call_later(wait, self.flush_partial)

    def flush_partial(self) -> None:
        if self._partial_handle is not None:
            self._partial_handle.cancel()
            self._partial_handle = None
        if self._partial_token is None:
            return
        pending, self._pending = self._pending, []
        for key, texts in pending:
            self._server.progress(
                types.ProgressParams(
                    token=self._partial_token,
                    value={**self._partial_extra, key: "".join(texts)},
                )
            )
        self._last_partial = time.monotonic()

    def end(self, message: str | None = None) -> None:
        """Flush what is pending and send the one `end`; safe to call twice."""
        if self._ended:
            return
        self.flush_partial()
        if self._report_handle is not None:
            self._report_handle.cancel()
            self._report_handle = None
        self._ended = True
        if not self._begun or self._token is None:
            return
        self._server.work_done_progress.end(
            self._token,
            types.WorkDoneProgressEnd(message=_one_line(message) if message else None),
        )
        # pygls keeps every token's future forever (openlawlibrary/pygls#607).
        self._server.work_done_progress.tokens.pop(self._token, None)


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else text.strip()
    if len(last) > MESSAGE_WIDTH:
        last = "…" + last[-(MESSAGE_WIDTH - 1) :]
    return last
