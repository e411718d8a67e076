"""The pure core: (previous state, observations, now, rules) -> (changes, next state).

No I/O, no clock, no environment: everything comes in as arguments, so every rule of "what a tick
notifies" is tested with plain tables. One function per rule; ``_detect_target`` says in which
order they apply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .insight import add_sample, compare_metrics, eta, format_duration, metric_line, regressions
from .model import (
    NO_INSIGHT,
    RUNNING,
    TERMINAL,
    Change,
    ChangeKind,
    FailureKind,
    Insight,
    Observation,
    ReadFailure,
    State,
    TargetState,
    Task,
)
from .run_records import previous_figures, record_finished


@dataclass(frozen=True)
class Rules:
    progress_step: float = 25
    stall_minutes: float = 60
    error_ticks: int = 3
    regression_pct: float = 0  # 0: no regression changes
    lower_is_better: tuple[str, ...] = ()  # metric names; empty: by their names (loss, error, ...)
    remind_hours: float = 0  # 0: no reminders


@dataclass(frozen=True)
class _Target:
    """One target's key, the base of its change ids, the time and the rules: what every rule needs."""

    key: str
    base: int
    now: int
    rules: Rules

    def change(
        self,
        kind: ChangeKind,
        discriminator: str,
        task: Task | None = None,
        *,
        run: str | None = None,
        old_status: str | None = None,
        detail: str = "",
        insight: Insight = NO_INSIGHT,
    ) -> Change:
        return Change(self.key, kind, self.base, discriminator, task, old_status, detail, run, insight)


def progress_bucket(progress: float, step: float) -> int:
    return math.floor(progress / step + 1e-9) if step > 0 else 0


def detect(
    previous: State | None, observations: Mapping[str, Observation], now_ms: int, rules: Rules
) -> tuple[list[Change], State]:
    """Changes to notify, and the state to store once they are delivered.

    ``observations`` holds every watched target (in settings order); a stored target that is no
    longer watched is dropped from the next state.
    """
    prev = previous or State()
    next_rev = prev.revision + 1
    # Dropping a target starts a new epoch, and the targets first seen in this very tick already
    # belong to it: the next tick computes the same ids for any of them whose entry a concurrent
    # commit lost.
    dropped = any(key not in observations for key in prev.targets)
    epoch = next_rev if dropped else prev.epoch
    changes: list[Change] = []
    entries: dict[str, TargetState] = {}
    for key, observation in observations.items():
        old = prev.targets.get(key)
        target = _Target(key, old.rev if old is not None else epoch, now_ms, rules)
        try:
            found, entry = _detect_target(target, old, observation)
        except Exception as err:  # one target's unforeseen data must not cost the others their changes
            failure = ReadFailure(FailureKind.INVALID, f"cannot process the answer: {type(err).__name__}")
            found, entry = failed_read(target, old, failure)
        if entry != old:
            entry = replace(entry, rev=next_rev)
        changes.extend(found)
        entries[key] = entry
    if entries == prev.targets and previous is not None:
        return changes, prev
    return changes, State(revision=next_rev, targets=entries, epoch=epoch)


def _detect_target(t: _Target, old: TargetState | None, obs: Observation) -> tuple[list[Change], TargetState]:
    if obs.failure is not None or obs.task is None:
        changes, entry = failed_read(t, old, obs.failure or ReadFailure(FailureKind.INVALID, "no task in the answer"))
        return remind(t, changes, entry)
    task = obs.task
    if old is None or old.generation is None:
        return first_sight(t, old, task)
    changes = recovery(t, old, obs)
    entry = replace(old, error_count=0, last_error=None, error_alerted=False, not_found=False)
    if changes:  # told that it reads again: a reminder about being unreadable starts over
        entry = replace(entry, told_at=0, failing_since=0)
    if task.generation != old.generation:
        found, entry = new_runs(t, entry, obs)
        return remind(t, changes + found, entry)
    entry = _with_task(entry, task)
    if task.status != old.status:
        found, entry = status_change(t, entry, old.status, task, obs.earlier)
        return changes + found, replace(entry, stalled=False, progress_since=t.now)
    if task.status != RUNNING:
        return remind(t, changes, entry)
    if task.progress != old.progress:
        entry = replace(
            entry, progress_since=t.now, stalled=False, history=add_sample(old.history, t.now, task.progress)
        )
        changes.extend(progress(t, old, entry, task))
        return changes, entry
    stall = stalled(t, old, task)
    if stall is not None:
        return [*changes, stall], replace(entry, stalled=True)
    return changes, entry


def first_sight(t: _Target, old: TargetState | None, task: Task) -> tuple[list[Change], TargetState]:
    """A target without a known run: "now watching" (after "recovered" if an error alert was out)."""
    watching = t.change(ChangeKind.WATCHING, f"{task.generation}:{task.status}", task)
    fresh = _entry_from_task(task, t.now)
    if task.status in TERMINAL:
        fresh = record_finished(fresh, task, t.now)
    if old is not None and old.error_alerted:  # an error alert is always followed by "recovered"
        detail = f"reads work again after: {old.last_error}"
        return [t.change(ChangeKind.RECOVERED, task.generation, task, detail=detail), watching], fresh
    return [watching], fresh


def recovery(t: _Target, old: TargetState, obs: Observation) -> list[Change]:
    """A good read after an error alert or a not-found: "recovered", told about the run we knew."""
    if not (old.error_alerted or old.not_found):
        return []
    assert obs.task is not None
    detail = "found again" if old.not_found else f"reads work again after: {old.last_error}"
    # When a newer run appeared meanwhile the digest reads "recovered, <old run>'s final status",
    # then "new run", in that order.
    stored = obs.stored_run
    about = stored if stored is not None and stored.generation == old.generation else obs.task
    return [t.change(ChangeKind.RECOVERED, about.generation, about, detail=detail)]


def new_runs(t: _Target, old: TargetState, obs: Observation) -> tuple[list[Change], TargetState]:
    """The stored run's final status if it changed, then every newer run, oldest first; the entry
    becomes the newest run's, keeping what finished runs taught (durations, metrics)."""
    assert obs.task is not None
    changes: list[Change] = []
    entry = old
    stored = obs.stored_run
    if stored is not None and stored.generation == old.generation and stored.status != old.status:
        found, entry = status_change(t, entry, old.status, stored, obs.earlier)
        changes.extend(found)
    for run in (*obs.between, obs.task):
        changes.append(t.change(ChangeKind.NEW_RUN, run.generation, run))
        if run.status in TERMINAL:  # started and ended between two ticks: its final status too
            found, entry = status_change(t, entry, None, run, obs.earlier)
            changes.extend(found)
    fresh = _entry_from_task(obs.task, t.now)
    kept = replace(fresh, rev=old.rev, runs=entry.runs, success_metrics=entry.success_metrics)
    if obs.task.status in TERMINAL:
        kept = replace(kept, told_at=entry.told_at, failing_since=entry.failing_since)
    return changes, kept


def status_change(
    t: _Target, entry: TargetState, old_status: str | None, task: Task, earlier: tuple[Task, ...] = ()
) -> tuple[list[Change], TargetState]:
    """A run's new status; a run that finished is compared with the runs before it (its duration
    against the last finished run, its metrics against the last successful run, a ``regression``
    when one got worse by more than regression_pct), and remembered for the runs after it."""
    discriminator = f"{task.generation}:{task.status}"
    if task.status not in TERMINAL:
        return [t.change(ChangeKind.STATUS, discriminator, task, old_status=old_status)], replace(entry, history=())
    duration, metrics = previous_figures(entry, earlier, task.generation)
    insight = Insight(last_duration_ms=duration, previous_metrics=metrics)
    changes = [t.change(ChangeKind.STATUS, discriminator, task, old_status=old_status, insight=insight)]
    if task.status == "success" and metrics:
        deltas = compare_metrics(task.metrics, metrics, t.rules.lower_is_better)
        worse = regressions(deltas, t.rules.regression_pct)
        if worse:
            detail = "worse than the last successful run: " + ", ".join(metric_line(d) for d in worse)
            changes.append(t.change(ChangeKind.REGRESSION, task.generation, task, detail=detail, insight=insight))
    return changes, record_finished(entry, task, t.now)


def progress(t: _Target, old: TargetState, entry: TargetState, task: Task) -> list[Change]:
    """A crossing of a progress step (one per tick, however many steps), and "moving again"; both
    with the ETA and the trend of the progress samples."""
    changes: list[Change] = []
    step = t.rules.progress_step
    bucket = progress_bucket(task.progress, step)
    insight = Insight(eta_ms=eta(entry.history, t.now) or 0, trend=tuple(p for _, p in entry.history), at_ms=t.now)
    if step > 0 and bucket > progress_bucket(old.progress, step):
        reached = f"{bucket * step:g}"
        changes.append(
            t.change(ChangeKind.PROGRESS, f"{task.generation}:{reached}", task, detail=reached, insight=insight)
        )
    if old.stalled:
        changes.append(t.change(ChangeKind.MOVING, f"{task.generation}:{task.progress:g}", task, insight=insight))
    return changes


def remind(t: _Target, changes: list[Change], entry: TargetState) -> tuple[list[Change], TargetState]:
    """A target whose latest run failed, or that cannot be read, told again every remind_hours from
    the last time it was told, until it recovers or a newer run starts."""
    every = t.rules.remind_hours * 3_600_000
    troubled = entry.status == "failed" or entry.error_alerted
    if changes or every <= 0 or not troubled or not entry.told_at or t.now - entry.told_at < every:
        return changes, entry
    since = entry.failing_since or entry.told_at
    what = "unreadable" if entry.error_alerted else "failing"
    hours = (t.now - since) // 3_600_000
    detail = f"still {what} for {hours}h" if hours else f"still {what} for {format_duration(t.now - since)}"
    reminder = t.change(
        ChangeKind.REMINDER,
        f"{entry.generation}:{entry.told_at}",
        run=entry.generation,
        detail=detail,
        insight=Insight(since_ms=since),
    )
    return [reminder], replace(entry, told_at=t.now)


def stalled(t: _Target, old: TargetState, task: Task) -> Change | None:
    """No progress for ``stall_minutes`` since the first tick that saw the current progress: once."""
    quiet_ms = t.now - old.progress_since
    if t.rules.stall_minutes <= 0 or old.stalled or quiet_ms < t.rules.stall_minutes * 60_000:
        return None
    detail = f"no progress for {quiet_ms / 60_000:.0f} min"
    return t.change(ChangeKind.STALLED, f"{task.generation}:{task.progress:g}", task, detail=detail)


def failed_read(t: _Target, old: TargetState | None, failure: ReadFailure) -> tuple[list[Change], TargetState]:
    """Not found (an answer: told once, ends an error alert), or a failed read counted toward an alert."""
    entry = old or TargetState()
    if failure.kind == FailureKind.NOT_FOUND:
        changes: list[Change] = []
        if entry.error_alerted:
            detail = f"reads work again after: {entry.last_error}"
            changes.append(t.change(ChangeKind.RECOVERED, "", run=entry.generation, detail=detail))
        entry = replace(entry, error_count=0, error_alerted=False, last_error=None)
        if not entry.not_found:
            changes.append(t.change(ChangeKind.NOT_FOUND, entry.generation or "", detail=failure.message))
        return changes, replace(entry, not_found=True)
    count = entry.error_count + 1
    cause = f"{failure.kind.value}: {failure.message}"
    entry = replace(entry, error_count=count, last_error=cause)
    if count >= t.rules.error_ticks and not entry.error_alerted:
        detail = f"{count} failed reads in a row; last: {cause}"
        alert = t.change(ChangeKind.ERROR, "", run=entry.generation, detail=detail)
        since = entry.failing_since or t.now
        return [alert], replace(entry, error_alerted=True, told_at=t.now, failing_since=since)
    return [], entry


def _with_task(entry: TargetState, task: Task) -> TargetState:
    """``entry`` with what the run as read says now."""
    return replace(
        entry,
        status=task.status,
        progress=task.progress,
        start_time=task.start_time,
        end_time=task.end_time,
        metrics=task.metrics,
        errors=task.errors,
    )


def _entry_from_task(task: Task, now: int) -> TargetState:
    history = ((now, task.progress),) if task.status == RUNNING else ()
    return _with_task(TargetState(generation=task.generation, progress_since=now, history=history), task)
