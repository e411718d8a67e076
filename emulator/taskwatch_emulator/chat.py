"""What the chat fakes share: the accepted messages, waiting for them, and a rolling rate window.

Each chat fake keeps its own request checks and answers; this base only records what got
through, under ``lock``, so a test thread can read ``messages`` while requests arrive.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .base import Clock, Service


class ChatFake(Service):
    """A fake that accepts JSON messages: ``messages``, ``texts()``, ``wait_for()``, ``on_message``."""

    def __init__(self, clock: Clock, auth_clock: Clock | None = None) -> None:
        super().__init__(clock)
        # Signatures and timestamps are checked against this one, so ``clock`` may jump ahead.
        self.auth_clock = auth_clock or clock
        self.messages: list[dict[str, Any]] = []
        self.on_message: Callable[[dict[str, Any]], None] | None = None
        self._sent: deque[float] = deque()  # clock times of accepted messages (rate windows)
        self._arrived = threading.Condition(self.lock)

    def text_of(self, msg: dict[str, Any]) -> str:
        """The visible text of one message; each platform says which keys are not text."""
        return "\n".join(strings_of(msg))

    def texts(self) -> list[str]:
        """The visible text of each accepted message."""
        with self.lock:
            return [self.text_of(m) for m in self.messages]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` messages arrived (or timeout); returns them all."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return list(self.messages)

    def _admit(self, msg: dict[str, Any], limits: Sequence[tuple[int, float]] = ()) -> bool:
        """Record ``msg`` unless one of ``limits`` (at most N accepted in a rolling window of S
        seconds) is reached; only accepted messages count, as the platforms count sends."""
        with self._arrived:
            now = self.clock()
            longest = max((window for _, window in limits), default=0.0)
            while self._sent and self._sent[0] <= now - longest:
                self._sent.popleft()
            for most, window in limits:
                if sum(1 for t in self._sent if t > now - window) >= most:
                    return False
            if limits:
                self._sent.append(now)
            self._store(msg)
        self._announce(msg)
        return True

    def _store(self, msg: dict[str, Any]) -> None:
        """Append and wake waiters; the caller holds ``lock``."""
        self.messages.append(msg)
        self._arrived.notify_all()

    def _announce(self, msg: dict[str, Any]) -> None:
        # Outside the lock: a callback that prints or sleeps must not stall other requests.
        if self.on_message is not None:
            self.on_message(msg)


def strings_of(value: object, skip: Collection[str] = ()) -> list[str]:
    """Every string inside ``value`` in document order, leaving out the values of ``skip`` keys."""
    out: list[str] = []

    def walk(v: object) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                if k not in skip:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value)
    return out


def html_page(status: int, code: str) -> bytes:
    """What a proxy in front of a platform answers on an outage: HTML no client can parse."""
    return f"<html><body>{status} {code}</body></html>".encode()
