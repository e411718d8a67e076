"""The stored state: every target's entry, wildcard listings and what each channel still owes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .stored import count as _count
from .stored import dump, load
from .stored import number as _number
from .stored import text as _text

if TYPE_CHECKING:
    from .outbox import ChannelState


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
    history: tuple[tuple[int, float], ...] = ()  # (ms, progress) samples of the running run, oldest first
    runs: tuple[FinishedRun, ...] = ()  # the last finished runs, oldest first (durations, the summary)
    success_metrics: tuple[tuple[str, str], ...] = ()  # the last successful run's metrics
    told_at: int = 0  # ms: a failed run or an unreadable target was last told (reminders count from it)
    failing_since: int = 0  # ms: that trouble was first told

    def to_json(self) -> dict[str, Any]:
        data = {**dump(self, TARGET_FIELDS), "metrics": dict(self.metrics), "errors": list(self.errors)}
        if self.history:
            data["history"] = [[ms, progress] for ms, progress in self.history]
        if self.runs:
            data["runs"] = [[r.generation, r.status, r.start_time, r.end_time] for r in self.runs]
        if self.success_metrics:
            data["successMetrics"] = dict(self.success_metrics)
        return data

    @classmethod
    def from_json(cls, data: Any) -> TargetState:
        """Raise ValueError for any value of a wrong type or out of range: the state is then corrupt."""
        if not isinstance(data, dict):
            raise ValueError("a target entry is not an object")
        errors = data.get("errors") or []
        if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
            raise ValueError("errors is not a list of strings")
        entry = cls(
            **load(cls, data, TARGET_FIELDS),
            metrics=_metrics(data, "metrics"),
            errors=tuple(errors),
            history=_history(data.get("history", [])),
            runs=_runs(data.get("runs", [])),
            success_metrics=_metrics(data, "successMetrics"),
        )
        if not 0 <= entry.progress <= 100:
            raise ValueError(f"progress {entry.progress!r} is not between 0 and 100")
        return entry


@dataclass(frozen=True)
class FinishedRun:
    generation: str
    status: str
    start_time: int
    end_time: int

    @property
    def duration(self) -> int:
        return self.end_time - self.start_time if self.start_time and self.end_time >= self.start_time else 0


MAX_HISTORY = 20
MAX_RUNS = 10


def _metrics(data: dict[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    metrics = data.get(key, {})
    if not isinstance(metrics, dict) or not all(isinstance(v, (str, int, float)) for v in metrics.values()):
        raise ValueError(f"{key} is not an object of plain values")
    return tuple((str(k), str(v)) for k, v in metrics.items())


def _rows(raw: Any, names: tuple[str, ...], limit: int, what: str) -> list[dict[str, Any]]:
    """A stored list of short arrays (``[ms, progress]``, ...) as dicts keyed by ``names``."""
    if not isinstance(raw, list) or len(raw) > limit:
        raise ValueError(f"{what} is not a list of at most {limit}")
    if not all(isinstance(item, list) and len(item) == len(names) for item in raw):
        raise ValueError(f"an entry of {what} is not [{', '.join(names)}]")
    return [dict(zip(names, item, strict=True)) for item in raw]


def _history(raw: Any) -> tuple[tuple[int, float], ...]:
    rows = _rows(raw, ("ms", "progress"), MAX_HISTORY, "history")
    return tuple((_count(row, "ms"), _number(row, "progress")) for row in rows)


def _runs(raw: Any) -> tuple[FinishedRun, ...]:
    runs = []
    for row in _rows(raw, ("generation", "status", "start", "end"), MAX_RUNS, "runs"):
        generation, status = _text(row, "generation"), _text(row, "status")
        if generation is None or status is None:
            raise ValueError("a finished run has no generation or status")
        runs.append(FinishedRun(generation, status, _count(row, "start"), _count(row, "end")))
    return tuple(runs)


# The plain fields of a target entry and of a run of failures (a wildcard's listings, a channel's
# deliveries: how many in a row, whether told, why), stored under their camelCase names.
TARGET_FIELDS: tuple[str, ...] = ("rev", "generation", "status", "progress", "start_time", "end_time")
TARGET_FIELDS += ("progress_since", "stalled", "not_found", "error_count", "error_alerted", "last_error")
TARGET_FIELDS += ("told_at", "failing_since")
STREAK_FIELDS = ("failures", "alerted", "last_error")


STATE_FORMAT = 1


@dataclass(frozen=True)
class State:
    """Every target's entry, at a revision that grows by one with each commit.

    ``epoch`` is the base of the change ids of targets that have no entry yet ("now watching").
    It moves only when a watched target is dropped from the state, so that a target added again
    later is told again, while a target whose first entry was lost to a concurrent commit gets the
    same id (and so the same claim) on the next tick instead of a second "now watching".
    """

    revision: int = 0
    targets: dict[str, TargetState] = field(default_factory=dict)
    epoch: int = 0
    discovered: dict[str, Listing] = field(default_factory=dict)  # wildcard target key -> its listing
    channels: dict[str, ChannelState] = field(default_factory=dict)  # what a channel still owes

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": STATE_FORMAT,
            "revision": self.revision,
            "epoch": self.epoch,
            "targets": {key: entry.to_json() for key, entry in sorted(self.targets.items())},
        }
        if self.discovered:
            data["discovered"] = {key: listing.to_json() for key, listing in sorted(self.discovered.items())}
        if self.channels:
            data["channels"] = {name: entry.to_json() for name, entry in sorted(self.channels.items())}
        return data

    @classmethod
    def from_json(cls, data: Any) -> State:
        """Raise ValueError on any shape problem: the caller treats that as corruption."""
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError("not a taskwatch state object")
        targets = data.get("targets")
        if not isinstance(targets, dict):
            raise ValueError("targets is not an object")
        revision = _count(data, "revision")
        # A state written before epochs existed: its new targets' ids were based on the revision.
        epoch = _count(data, "epoch") if "epoch" in data else revision
        entries = {str(k): TargetState.from_json(v) for k, v in targets.items()}
        discovered = data.get("discovered", {})
        if not isinstance(discovered, dict):
            raise ValueError("discovered is not an object")
        listings = {str(k): Listing.from_json(v) for k, v in discovered.items()}
        from .outbox import ChannelState

        channels = data.get("channels", {})
        if not isinstance(channels, dict):
            raise ValueError("channels is not an object")
        owed = {str(k): ChannelState.from_json(v) for k, v in channels.items()}
        return cls(revision=revision, targets=entries, epoch=epoch, discovered=listings, channels=owed)


@dataclass(frozen=True)
class Listing:
    """What a wildcard target listed last: its instances as ``function/instance``, and when."""

    instances: tuple[str, ...] = ()
    listed_at: int = 0  # ms of the last good listing; 0 = never
    failures: int = 0  # failed listings in a row
    alerted: bool = False  # an error was told for this run of failures
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"instances": list(self.instances), "listedAt": self.listed_at, **dump(self, STREAK_FIELDS)}

    @classmethod
    def from_json(cls, data: Any) -> Listing:
        if not isinstance(data, dict):
            raise ValueError("a listing is not an object")
        instances = data.get("instances", [])
        if not isinstance(instances, list) or not all(isinstance(i, str) for i in instances):
            raise ValueError("instances is not a list of strings")
        return cls(tuple(instances), _count(data, "listedAt"), **load(cls, data, STREAK_FIELDS))
