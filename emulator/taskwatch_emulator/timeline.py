"""Scripted task timelines for the OpenSearch fake.

A task is a list of :class:`Step`. On each read the *last* step whose conditions hold is the
task's state, so steps are written in the order they happen. Conditions:

* ``after_calls=N``   the task has already been answered N times (reads of it via Get, or via
  List when it is on the returned page);
* ``after_seconds=S`` S seconds on the emulator clock have passed since the task appeared.

A step with neither applies from the start; with both, both must hold. Times are relative so
tests write ``clock.advance(30)`` instead of computing epochs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TERMINAL = ("success", "failed")


@dataclass(frozen=True)
class RawJson:
    """A value written into an answer as this exact JSON text (``1e400``, ``NaN``, ``10**400`` digits)."""

    text: str


@dataclass(frozen=True)
class Step:
    status: str = "running"
    progress: int = 0
    extend_info: Mapping[str, Any] = field(default_factory=dict)
    after_calls: int | None = None
    after_seconds: float | None = None


@dataclass
class Task:
    app_group: str
    function: str
    instance: str
    generation: str
    steps: list[Step]
    registered_at: float
    run_id: str
    order: int  # registration order, the tie-breaker for "newest first"
    start_time: float | None = None  # epoch seconds; default: when it appeared
    appear_after_calls: int | None = None  # calls to the instance before it is listed
    appear_after_seconds: float | None = None  # seconds after registration before it is listed
    # Answer shapes the real service (or its docs) show: fields replaced or added as given (a
    # RawJson value is written into the body verbatim, e.g. 1e400), and fields left out.
    overrides: dict[str, Any] = field(default_factory=dict)
    omit: tuple[str, ...] = ()
    reads: int = 0
    appeared_at: float | None = None
    end_time: float | None = None
    _entered: dict[int, float] = field(default_factory=dict)

    def visible(self, now: float, instance_calls: int) -> bool:
        if self.appeared_at is not None:
            return True
        if self.appear_after_calls is not None and instance_calls < self.appear_after_calls:
            return False
        if self.appear_after_seconds is not None:
            if now < self.registered_at + self.appear_after_seconds:
                return False
            # Pin the appearance to the scripted moment, not to whenever someone looked.
            self.appeared_at = self.registered_at + self.appear_after_seconds
        else:
            self.appeared_at = now
        return True

    def current(self, now: float) -> tuple[int, Step]:
        base = self.appeared_at if self.appeared_at is not None else now
        idx = 0
        for i, step in enumerate(self.steps):
            if step.after_calls is not None and self.reads < step.after_calls:
                continue
            if step.after_seconds is not None and now < base + step.after_seconds:
                continue
            idx = i
        return idx, self.steps[idx]

    def render(self, now: float) -> dict[str, Any]:
        """The task in the API's PascalCase shape; counts as one read."""
        if not self.steps:
            raise ValueError(f"task {self.generation} has no steps")
        idx, step = self.current(now)
        base = self.appeared_at if self.appeared_at is not None else now
        if idx not in self._entered:
            # A time-triggered step entered at its scripted moment; a call-triggered one now.
            self._entered[idx] = base + step.after_seconds if step.after_seconds is not None else now
        if step.status in TERMINAL:
            if self.end_time is None:
                self.end_time = self._entered[idx]
        else:
            self.end_time = None
        self.reads += 1
        start = self.start_time if self.start_time is not None else base
        result = {
            "FunctionName": self.function,
            "Generation": self.generation,
            "Status": step.status,
            "Progress": int(step.progress),
            "StartTime": int(start * 1000),
            "EndTime": int(self.end_time * 1000) if self.end_time is not None else 0,
            "RunId": self.run_id,
            # The real API returns ExtendInfo as a JSON *string*, not an object.
            "ExtendInfo": json.dumps(dict(step.extend_info), separators=(",", ":")),
        }
        result.update(self.overrides)
        for name in self.omit:
            result.pop(name, None)
        return result

    def sort_key(self) -> tuple[int, int]:
        gen = int(self.generation) if self.generation.isdigit() else -1
        return (gen, self.order)
