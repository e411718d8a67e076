"""What each channel still owes: the changes it could not deliver yet, and its run of failures.

A channel that fails keeps its own changes here, in the state, so it never holds back another
channel or the state commit; they go out, oldest first, in its next digest that is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kinds import ChangeKind
from .model import NO_INSIGHT, Change, Insight, Task
from .state import MAX_HISTORY, STREAK_FIELDS
from .stored import count, dump, load, number, text

MAX_PENDING = 500  # per channel; older changes are dropped, and counted


@dataclass(frozen=True)
class ChannelState:
    pending: tuple[Change, ...] = ()  # oldest first
    dropped: int = 0  # pending changes dropped because more than MAX_PENDING waited
    failures: int = 0  # failed deliveries in a row
    alerted: bool = False  # channel_failing was told for this run of failures
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "pending": [change_to_json(c) for c in self.pending],
            "dropped": self.dropped,
            **dump(self, STREAK_FIELDS),
        }

    @classmethod
    def from_json(cls, data: Any) -> ChannelState:
        """Raise ValueError on a bad shape or value: the state is then corrupt."""
        if not isinstance(data, dict):
            raise ValueError("a channel entry is not an object")
        pending = data.get("pending", [])
        if not isinstance(pending, list) or len(pending) > MAX_PENDING:
            raise ValueError("pending is not a list of at most 500 changes")
        owed = tuple(change_from_json(item) for item in pending)
        return cls(owed, count(data, "dropped"), **load(cls, data, STREAK_FIELDS))


NOTHING_OWED = ChannelState()  # a channel in this state is left out of state.json


def enqueue(state: ChannelState, changes: list[Change]) -> ChannelState:
    """``changes`` added after what already waits (each change once), the oldest dropped past the bound."""
    known = {c.id for c in state.pending}
    queue = [*state.pending, *(c for c in changes if c.id not in known)]
    over = max(0, len(queue) - MAX_PENDING)
    return ChannelState(
        pending=tuple(queue[over:]),
        dropped=state.dropped + over,
        failures=state.failures,
        alerted=state.alerted,
        last_error=state.last_error,
    )


def task_to_json(task: Task) -> dict[str, Any]:
    return {
        "generation": task.generation,
        "status": task.status,
        "progress": task.progress,
        "startTime": task.start_time,
        "endTime": task.end_time,
        "runId": task.run_id,
        "metrics": [list(pair) for pair in task.metrics],
        "errors": list(task.errors),
    }


def task_from_json(data: Any) -> Task:
    if not isinstance(data, dict):
        raise ValueError("a pending change's task is not an object")
    errors = data.get("errors", [])
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise ValueError("a pending change's errors are not strings")
    progress = number(data, "progress")
    if not 0 <= progress <= 100:
        raise ValueError(f"a pending change's progress {progress!r} is not between 0 and 100")
    return Task(
        generation=text(data, "generation") or "",
        status=text(data, "status") or "",
        progress=progress,
        start_time=count(data, "startTime"),
        end_time=count(data, "endTime"),
        run_id=text(data, "runId") or "",
        metrics=_pairs(data.get("metrics", [])),
        errors=tuple(errors),
    )


def _pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in raw
    ):
        raise ValueError("a pending change's metrics are not pairs of strings")
    return tuple((k, v) for k, v in raw)


def change_to_json(change: Change) -> dict[str, Any]:
    """Everything a change is made of, so that the same change (same id) is rebuilt later."""
    data: dict[str, Any] = {
        "target": change.target,
        "kind": change.kind.value,
        "baseRev": change.base_rev,
        "discriminator": change.discriminator,
        "oldStatus": change.old_status,
        "detail": change.detail,
        "run": change.run,
    }
    if change.task is not None:
        data["task"] = task_to_json(change.task)
    if change.insight != NO_INSIGHT:
        data["insight"] = insight_to_json(change.insight)
    return data


def insight_to_json(seen: Insight) -> dict[str, Any]:
    return {
        **dump(seen, INSIGHT_FIELDS),
        "trend": list(seen.trend),
        "previousMetrics": [list(pair) for pair in seen.previous_metrics],
    }


def insight_from_json(data: Any) -> Insight:
    if not isinstance(data, dict):
        raise ValueError("a pending change's insight is not an object")
    trend = data.get("trend", [])
    if not isinstance(trend, list) or len(trend) > MAX_HISTORY:
        raise ValueError("a pending change's trend is not a list of at most 20 samples")
    return Insight(
        **load(Insight, data, INSIGHT_FIELDS),
        trend=tuple(number({"p": p}, "p") for p in trend),
        previous_metrics=_pairs(data.get("previousMetrics", [])),
    )


INSIGHT_FIELDS = ("eta_ms", "last_duration_ms", "since_ms", "at_ms")


def change_from_json(data: Any) -> Change:
    if not isinstance(data, dict):
        raise ValueError("a pending change is not an object")
    try:
        kind = ChangeKind(data.get("kind"))
    except ValueError:
        raise ValueError(f"a pending change's kind {str(data.get('kind'))[:40]!r} is unknown") from None
    target, discriminator = text(data, "target"), text(data, "discriminator")
    if target is None or discriminator is None:
        raise ValueError("a pending change has no target or discriminator")
    return Change(
        target=target,
        kind=kind,
        base_rev=count(data, "baseRev"),
        discriminator=discriminator,
        task=task_from_json(data["task"]) if data.get("task") is not None else None,
        old_status=text(data, "oldStatus"),
        detail=text(data, "detail") or "",
        run=text(data, "run"),
        insight=insight_from_json(data["insight"]) if "insight" in data else NO_INSIGHT,
    )
