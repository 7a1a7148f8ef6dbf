"""Multi-turn chat sessions, bounded so a server left running for days stays small."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_SESSIONS = 64
MAX_MESSAGES = 40
MAX_HISTORY_CHARS = 200_000


@dataclass
class Session:
    id: str
    folder: str
    messages: list[dict[str, str]] = field(default_factory=list)
    last_used: float = field(default_factory=time.monotonic)

    def add_turn(self, user: str, assistant: str) -> None:
        self.messages.append({"role": "user", "content": user})
        self.messages.append({"role": "assistant", "content": assistant})
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest turns (a user message and its answer) past the limits."""
        while len(self.messages) > MAX_MESSAGES or (
            len(self.messages) > 2
            and sum(len(m["content"]) for m in self.messages) > MAX_HISTORY_CHARS
        ):
            del self.messages[:2]


class UnknownSession(KeyError):
    """The client named a session this server does not have (expired or foreign)."""


class SessionStore:
    """Sessions by id, least recently used dropped first."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._max = max_sessions

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str | None, folder: str) -> Session:
        """The session to continue, or a new one when `session_id` is None.

        A session belongs to the workspace folder that started it: a conversation
        (and the answers it holds) is never continued under another folder.
        """
        if session_id is None:
            session = Session(id=str(uuid.uuid4()), folder=folder)
            self._sessions[session.id] = session
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
            return session

        found = self._sessions.get(session_id)
        if found is None or found.folder != folder:
            raise UnknownSession(session_id)
        self._sessions.move_to_end(session_id)
        found.last_used = time.monotonic()
        return found

    def drop_folder(self, folder: str) -> None:
        for sid in [s.id for s in self._sessions.values() if s.folder == folder]:
            del self._sessions[sid]
