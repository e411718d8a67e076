"""Fault rules shared by the three fakes.

A fault is consumed by the next matching request (service is implied by which fake owns the
rules; ``path`` narrows it to paths containing a substring, or ending with it when it ends in
``$``).  Rules are kept in insertion order
and the first one with uses left wins, so a test can script "two 503s, then a timeout".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["timeout", "status", "malformed", "reset", "latency", "errcode", "late"]
FAULT_KINDS: tuple[FaultKind, ...] = ("timeout", "status", "malformed", "reset", "latency", "errcode", "late")


@dataclass
class Fault:
    """One injected failure.

    kind:
      ``timeout``   wait ``seconds`` and then drop the connection without an answer;
      ``status``    answer ``status`` with the service's own error body (``code``/``message``);
      ``malformed`` answer 200 with a body the client cannot parse;
      ``reset``     drop the connection at once (RST) without an answer;
      ``latency``   wait ``seconds`` and then answer normally;
      ``late``      carry the request out (an object is written), then wait ``seconds`` and drop
                    the connection: the client times out although its write landed;
      ``errcode``   DingTalk only: HTTP 200 with ``{"errcode": errcode}`` (default -1, "busy").
    times: how many requests it applies to; ``None`` means every matching request until removed.
    """

    kind: FaultKind
    times: int | None = 1
    path: str | None = None
    method: str | None = None
    seconds: float = 0.3
    status: int = 503
    code: str = "ServiceUnavailable"
    message: str = "The request has failed due to a temporary failure of the server."
    errcode: int = -1
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is not None and self.path.endswith("$"):
            return path.endswith(self.path[:-1])
        return self.path is None or self.path in path


class FaultRules:
    """Thread-safe ordered list of faults; request threads call :meth:`take`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(
        self,
        kind: FaultKind,
        times: int | None = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        seconds: float = 0.3,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
        errcode: int = -1,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        # Pick the code Alibaba Cloud pairs with the status so callers need not.
        st = status if status is not None else 503
        default_code = {429: "Throttling", 500: "InternalError"}.get(st, "ServiceUnavailable")
        fault = Fault(
            kind=kind,
            times=times,
            path=path,
            method=method,
            seconds=seconds,
            status=st,
            code=code if code is not None else default_code,
            message=message if message is not None else Fault.message,
            errcode=errcode,
        )
        with self._lock:
            self._rules.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.used += 1
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[Fault]:
        """Rules that still have uses left (a test can assert all scripted faults fired)."""
        with self._lock:
            return [r for r in self._rules if r.times is None or r.used < r.times]
