"""The teacher key: checked in constant time, and slowed down only for whoever guesses it.

Wrong keys slow down the session that typed them, not the teacher's: after
``WRONG_KEYS_FREE`` wrong tries, a session waits 2^n seconds (at most ``MAX_KEY_LOCKOUT_S``)
before its next try is even checked. One bound is server-wide, against a brute force far
faster than any human: while ``SERVER_WRONG_PER_MIN`` wrong keys or more arrive within a minute,
every session that has guessed wrong waits. A session that has made no wrong try is always
checked, so the teacher's right key goes through whatever the students do.

``TeacherKey(key)`` is the server's one key; ``key.asked_by(who)`` is the same key as one
session sees it (``who``: any stable name for the session, never the secret itself). Stores
take either and call only ``check`` and ``refusal``.
"""

from __future__ import annotations

import copy
import hmac
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

TEACHER_KEY_ENV = "CNN_EXPLAINER_TEACHER_KEY"
WRONG_KEYS_FREE = 3  # a session's wrong keys allowed before its tries are slowed down
MAX_KEY_LOCKOUT_S = 60.0
SERVER_WRONG_PER_MIN = 30  # wrong keys a minute, server-wide: far above a human's pace
FORGET_AFTER_S = 3600.0  # a session's wrong tries are forgotten an hour after its last one
MAX_REMEMBERED = 10_000  # sessions with wrong tries remembered at once (oldest go first)
NO_KEY = "no teacher key is set on this server (CNN_EXPLAINER_TEACHER_KEY)"


@dataclass
class _Guesser:
    """One session's wrong tries."""

    wrong: int = 0
    last_wrong: float = 0.0
    locked_until: float = 0.0
    refusal: str = ""


class _Guard:
    """The key and every session's wrong tries: one per server, shared by its views."""

    def __init__(self, key: str, clock: Callable[[], float]) -> None:
        self.key, self.clock = key, clock
        self.lock = threading.Lock()
        self.guessers: OrderedDict[str, _Guesser] = OrderedDict()  # oldest wrong try first
        # the times of the last SERVER_WRONG_PER_MIN wrong keys: all within a minute = a flood
        self.recent: deque[float] = deque(maxlen=SERVER_WRONG_PER_MIN)

    def check(self, key: str, who: str) -> bool:
        with self.lock:
            now = self.clock()
            self._forget(now)
            if not self.key:
                return False
            guesser = self.guessers.get(who)
            if guesser is not None and (refusal := self._waiting(guesser, now)):
                guesser.refusal = refusal  # not checked, not counted
                return False
            if hmac.compare_digest(key.encode(), self.key.encode()):
                self.guessers.pop(who, None)
                return True
            self._wrong(who, guesser or _Guesser(), now)
            return False

    def refusal(self, who: str) -> str:
        with self.lock:
            if not self.key:
                return NO_KEY
            guesser = self.guessers.get(who)
            return guesser.refusal if guesser is not None else ""

    def _waiting(self, guesser: _Guesser, now: float) -> str:
        """Why a session that has guessed wrong must wait before its next try, or ""."""
        if (wait := guesser.locked_until - now) > 0:
            return f"too many wrong teacher keys: try again in {math.ceil(wait)} s"
        if len(self.recent) == self.recent.maxlen and (wait := self.recent[0] + 60 - now) > 0:
            return (f"too many wrong teacher keys on this server: try again in "
                    f"{math.ceil(wait)} s")
        return ""

    def _wrong(self, who: str, guesser: _Guesser, now: float) -> None:
        guesser.wrong += 1
        guesser.last_wrong = now
        guesser.refusal = "that is not the teacher key"
        if guesser.wrong >= WRONG_KEYS_FREE:
            delay = min(MAX_KEY_LOCKOUT_S, 2.0 ** (guesser.wrong - WRONG_KEYS_FREE))
            guesser.locked_until = now + delay
            guesser.refusal += f"; wait {math.ceil(delay)} s before the next try"
        self.guessers[who] = guesser
        self.guessers.move_to_end(who)  # kept in the order of last wrong try
        self.recent.append(now)
        while len(self.guessers) > MAX_REMEMBERED:
            self.guessers.popitem(last=False)

    def _forget(self, now: float) -> None:
        while self.guessers:
            oldest = next(iter(self.guessers.values()))
            if now - oldest.last_wrong < FORGET_AFTER_S:
                return
            self.guessers.popitem(last=False)


class TeacherKey:
    """The teacher key (``$CNN_EXPLAINER_TEACHER_KEY`` unless given), as one session sees it:
    ``check`` counts a wrong key against that session only (see the module's note)."""

    def __init__(self, key: str | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._guard = _Guard(key if key is not None else os.environ.get(TEACHER_KEY_ENV, ""),
                             clock)
        self._who = ""

    def asked_by(self, who: str) -> TeacherKey:
        """The same key, its wrong tries counted against ``who``."""
        view = copy.copy(self)  # shares the guard: one key, one record of wrong tries
        view._who = who
        return view

    @property
    def configured(self) -> bool:
        return bool(self._guard.key)

    def check(self, key: str) -> bool:
        return self._guard.check(key, self._who)

    def refusal(self) -> str:
        """Why this session's last check failed, without a word about the key itself."""
        return self._guard.refusal(self._who)
