"""Plain data shared by the core and the adapters: observations, stored state, changes."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Any

from .kinds import ChangeKind, is_urgent
from .state import STATE_FORMAT, FinishedRun, Listing, State, TargetState

__all__ = [
    "NO_INSIGHT",
    "RUNNING",
    "STATE_FORMAT",
    "TERMINAL",
    "Change",
    "ChangeKind",
    "FailureKind",
    "FinishedRun",
    "Insight",
    "Listing",
    "Observation",
    "ReadFailure",
    "State",
    "TargetState",
    "Task",
]

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

    ``stored_run`` is set for an ``@latest`` target whose stored generation is no longer the newest:
    it is that generation as read again (from the listing, or once more by its generation), so its
    final status is not lost.
    """

    task: Task | None = None
    failure: ReadFailure | None = None
    stored_run: Task | None = None
    between: tuple[Task, ...] = ()  # @latest: runs that started after the stored one and before ``task``, oldest first
    earlier: tuple[Task, ...] = ()  # runs older than the stored one, newest first, when the answer had them


@dataclass(frozen=True)
class Insight:
    """What a change tells beyond the run itself: the figures a team would otherwise look up."""

    eta_ms: int = 0  # a running task's estimated end (0: none yet)
    trend: tuple[float, ...] = ()  # its progress samples, oldest first (a sparkline)
    last_duration_ms: int = 0  # a finished run: the previous finished run's duration (0: none)
    previous_metrics: tuple[tuple[str, str], ...] = ()  # ... and the previous successful run's metrics
    since_ms: int = 0  # a reminder: when the trouble was first told
    at_ms: int = 0  # when these figures were computed (an ETA's "~35m left" counts from it)


NO_INSIGHT = Insight()


@dataclass(frozen=True)
class Change:
    """One thing to tell. ``task`` is the run as read (None for not found, cannot read, ...), and
    ``run`` names the run such a change is about."""

    target: str
    kind: ChangeKind
    base_rev: int  # revision of the stored entry the change was computed against
    discriminator: str  # what makes this change distinct from others of its kind (status, step, ...)
    task: Task | None = None
    old_status: str | None = None
    detail: str = ""
    run: str | None = None
    insight: Insight = NO_INSIGHT  # not part of the id: the same change, however it is told

    @property
    def id(self) -> str:
        """Deterministic: two ticks that read the same state compute the same id."""
        raw = f"{self.target}\n{self.base_rev}\n{self.kind.value}\n{self.discriminator}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """The change as `/check` answers and webhook bodies show it."""
        return {
            "id": self.id,
            "target": self.target,
            "kind": self.kind.value,
            "generation": self.generation,
            "oldStatus": self.old_status,
            "status": self.new_status,
            "progress": self.progress,
            "detail": self.detail,
        }

    @property
    def urgent(self) -> bool:
        """Urgent changes mention the owners."""
        return is_urgent(self.kind, self.new_status)

    @property
    def generation(self) -> str | None:
        return self.task.generation if self.task is not None else self.run

    @property
    def new_status(self) -> str | None:
        return self.task.status if self.task is not None else None

    @property
    def progress(self) -> float:
        return self.task.progress if self.task is not None else 0

    @property
    def start_time(self) -> int:
        return self.task.start_time if self.task is not None else 0

    @property
    def end_time(self) -> int:
        return self.task.end_time if self.task is not None else 0

    @property
    def metrics(self) -> tuple[tuple[str, str], ...]:
        return self.task.metrics if self.task is not None else ()

    @property
    def errors(self) -> tuple[str, ...]:
        return self.task.errors if self.task is not None else ()
