"""Plain data shared by the core and the adapters: observations, stored state, changes."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

RUNNING = "running"
TERMINAL = frozenset({"success", "failed"})


@dataclass(frozen=True)
class Task:
    """One generation of a task as OpenSearch reported it."""

    generation: str
    status: str
    progress: float
    start_time: int = 0  # ms since the epoch; 0 = unknown
    end_time: int = 0  # ms; 0 while running
    run_id: str = ""
    metrics: tuple[tuple[str, str], ...] = ()
    errors: tuple[str, ...] = ()
    extend_info_problem: str | None = None  # ExtendInfo was present but not a JSON object


class FailureKind(str, enum.Enum):
    NOT_FOUND = "not_found"
    AUTH = "auth"
    TRANSIENT = "transient"
    INVALID = "invalid"


@dataclass(frozen=True)
class ReadFailure:
    kind: FailureKind
    message: str


@dataclass(frozen=True)
class Observation:
    """What one tick learned about one target: a task, or why it could not be read.

    ``previous`` is set for an ``@latest`` target whose stored generation is no longer the newest
    and was not finished when last seen: it is that generation read once more, so its final status
    is not lost.
    """

    task: Task | None = None
    failure: ReadFailure | None = None
    previous: Task | None = None


@dataclass(frozen=True)
class TargetState:
    """What the watcher remembers about one target between ticks."""

    rev: int = 0  # the state revision at which this entry last changed; part of change ids
    generation: str | None = None
    status: str | None = None
    progress: float = 0
    start_time: int = 0
    end_time: int = 0
    metrics: tuple[tuple[str, str], ...] = ()
    errors: tuple[str, ...] = ()
    progress_since: int = 0  # ms: first tick that saw the current progress
    stalled: bool = False
    not_found: bool = False
    error_count: int = 0
    error_alerted: bool = False
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "generation": self.generation,
            "status": self.status,
            "progress": self.progress,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "metrics": dict(self.metrics),
            "errors": list(self.errors),
            "progressSince": self.progress_since,
            "stalled": self.stalled,
            "notFound": self.not_found,
            "errorCount": self.error_count,
            "errorAlerted": self.error_alerted,
            "lastError": self.last_error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetState:
        metrics = data.get("metrics", {})
        if not isinstance(metrics, dict):
            raise ValueError("metrics is not an object")
        return cls(
            rev=int(data.get("rev", 0)),
            generation=None if data.get("generation") is None else str(data["generation"]),
            status=None if data.get("status") is None else str(data["status"]),
            progress=float(data.get("progress", 0)),
            start_time=int(data.get("startTime", 0)),
            end_time=int(data.get("endTime", 0)),
            metrics=tuple((str(k), str(v)) for k, v in metrics.items()),
            errors=tuple(str(e) for e in data.get("errors") or ()),
            progress_since=int(data.get("progressSince", 0)),
            stalled=bool(data.get("stalled", False)),
            not_found=bool(data.get("notFound", False)),
            error_count=int(data.get("errorCount", 0)),
            error_alerted=bool(data.get("errorAlerted", False)),
            last_error=None if data.get("lastError") is None else str(data["lastError"]),
        )


STATE_FORMAT = 1


@dataclass(frozen=True)
class State:
    revision: int = 0
    targets: dict[str, TargetState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "revision": self.revision,
            "targets": {key: entry.to_json() for key, entry in sorted(self.targets.items())},
        }

    @classmethod
    def from_json(cls, data: Any) -> State:
        """Raise ValueError on any shape problem: the caller treats that as corruption."""
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError("not a taskwatch state object")
        targets = data.get("targets")
        if not isinstance(targets, dict):
            raise ValueError("targets is not an object")
        try:
            entries = {str(k): TargetState.from_json(v) for k, v in targets.items()}
            return cls(revision=int(data["revision"]), targets=entries)
        except (TypeError, KeyError, AttributeError) as err:
            raise ValueError(f"bad target entry: {err}") from err


class ChangeKind(str, enum.Enum):
    WATCHING = "watching"  # first sight of a target
    NEW_RUN = "new_run"  # @latest: a newer generation appeared
    STATUS = "status"  # running -> success/failed, or any other status change
    PROGRESS = "progress"  # progress crossed a multiple of the step
    STALLED = "stalled"
    MOVING = "moving"  # progress moved again after a stall
    NOT_FOUND = "not_found"
    ERROR = "error"  # reads failed TASKWATCH_ERROR_TICKS times in a row
    RECOVERED = "recovered"  # first good read after an error alert or a not-found


@dataclass(frozen=True)
class Change:
    target: str
    kind: ChangeKind
    base_rev: int  # revision of the stored entry the change was computed against
    value: str  # the new value that makes this change distinct (status, progress step, ...)
    generation: str | None = None
    old_status: str | None = None
    new_status: str | None = None
    progress: float = 0
    start_time: int = 0
    end_time: int = 0
    metrics: tuple[tuple[str, str], ...] = ()
    errors: tuple[str, ...] = ()
    detail: str = ""

    @property
    def id(self) -> str:
        """Deterministic: two ticks that read the same state compute the same id."""
        raw = f"{self.target}\n{self.base_rev}\n{self.kind.value}\n{self.value}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    @property
    def urgent(self) -> bool:
        """Urgent changes mention DINGTALK_AT_MOBILES."""
        if self.kind in (ChangeKind.STALLED, ChangeKind.ERROR):
            return True
        return self.kind == ChangeKind.STATUS and self.new_status == "failed"
