"""The pure core: (previous state, observations, now, rules) -> (changes, next state).

No I/O, no clock, no environment: everything it needs comes in as arguments, so every rule of
"what a tick notifies" is tested here with plain tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .model import (
    RUNNING,
    TERMINAL,
    Change,
    ChangeKind,
    FailureKind,
    Observation,
    ReadFailure,
    State,
    TargetState,
    Task,
)


@dataclass(frozen=True)
class Rules:
    progress_step: float = 25
    stall_minutes: float = 60
    error_ticks: int = 3


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
        try:
            found, entry = _detect_target(key, old, observation, now_ms, rules, epoch)
        except Exception as err:  # one target's unforeseen data must not cost the others their changes
            failure = ReadFailure(FailureKind.INVALID, f"cannot process the answer: {type(err).__name__}")
            found, entry = _failed_read(key, old, failure, rules, old.rev if old is not None else epoch)
        if entry != old:
            entry = replace(entry, rev=next_rev)
        changes.extend(found)
        entries[key] = entry
    if entries == prev.targets and previous is not None:
        return changes, prev
    return changes, State(revision=next_rev, targets=entries, epoch=epoch)


def _detect_target(
    key: str, old: TargetState | None, obs: Observation, now: int, rules: Rules, epoch: int
) -> tuple[list[Change], TargetState]:
    base = old.rev if old is not None else epoch
    if obs.failure is not None or obs.task is None:
        failure = obs.failure or ReadFailure(FailureKind.INVALID, "no task in the answer")
        return _failed_read(key, old, failure, rules, base)

    task = obs.task
    if old is None or old.generation is None:
        fresh = _entry_from_task(task, now)
        change = _change(key, ChangeKind.WATCHING, base, f"{task.generation}:{task.status}", task)
        if old is not None and old.error_alerted:  # an error alert is always followed by "recovered"
            detail = f"reads work again after: {old.last_error}"
            return [_change(key, ChangeKind.RECOVERED, base, task.generation, task, detail=detail), change], fresh
        return [change], fresh

    changes: list[Change] = []
    entry = replace(old, error_count=0, last_error=None, error_alerted=False, not_found=False)
    if old.error_alerted or old.not_found:
        detail = "found again" if old.not_found else f"reads work again after: {old.last_error}"
        # Told with the generation we knew: when a newer run appeared meanwhile, the digest reads
        # "recovered, <old run>'s final status", then "new run", in that order.
        about = obs.previous if obs.previous is not None and obs.previous.generation == old.generation else task
        changes.append(_change(key, ChangeKind.RECOVERED, base, about.generation, about, detail=detail))

    if task.generation != old.generation:
        finished = obs.previous
        if finished is not None and finished.generation == old.generation and finished.status != old.status:
            changes.append(
                _change(
                    key,
                    ChangeKind.STATUS,
                    base,
                    f"{finished.generation}:{finished.status}",
                    finished,
                    old_status=old.status,
                )
            )
        for run in (*obs.between, task):
            changes.extend(_new_run(key, base, run))
        fresh = _entry_from_task(task, now)
        return changes, replace(fresh, rev=entry.rev)

    entry = replace(
        entry,
        status=task.status,
        progress=task.progress,
        start_time=task.start_time,
        end_time=task.end_time,
        metrics=task.metrics,
        errors=task.errors,
    )
    if task.status != old.status:
        changes.append(
            _change(key, ChangeKind.STATUS, base, f"{task.generation}:{task.status}", task, old_status=old.status)
        )
        entry = replace(entry, stalled=False, progress_since=now)
        return changes, entry

    if task.status != RUNNING:
        return changes, entry

    if task.progress != old.progress:
        entry = replace(entry, progress_since=now, stalled=False)
        step = rules.progress_step
        bucket = progress_bucket(task.progress, step)
        if step > 0 and bucket > progress_bucket(old.progress, step):
            reached = f"{bucket * step:g}"
            changes.append(
                _change(key, ChangeKind.PROGRESS, base, f"{task.generation}:{reached}", task, detail=reached)
            )
        if old.stalled:
            changes.append(_change(key, ChangeKind.MOVING, base, f"{task.generation}:{task.progress:g}", task))
        return changes, entry

    stall_ms = rules.stall_minutes * 60_000
    if rules.stall_minutes > 0 and not old.stalled and now - old.progress_since >= stall_ms:
        minutes = (now - old.progress_since) / 60_000
        changes.append(
            _change(
                key,
                ChangeKind.STALLED,
                base,
                f"{task.generation}:{task.progress:g}",
                task,
                detail=f"no progress for {minutes:.0f} min",
            )
        )
        entry = replace(entry, stalled=True)
    return changes, entry


def _new_run(key: str, base: int, run: Task) -> list[Change]:
    """A run seen for the first time: "new run", and its final status too when it has already ended."""
    changes = [_change(key, ChangeKind.NEW_RUN, base, run.generation, run)]
    if run.status in TERMINAL:
        changes.append(_change(key, ChangeKind.STATUS, base, f"{run.generation}:{run.status}", run))
    return changes


def _failed_read(
    key: str, old: TargetState | None, failure: ReadFailure, rules: Rules, base: int
) -> tuple[list[Change], TargetState]:
    entry = old or TargetState()
    if failure.kind == FailureKind.NOT_FOUND:
        # "Not found" is an answer: the read worked, so an error alert is over.
        changes: list[Change] = []
        if entry.error_alerted:
            detail = f"reads work again after: {entry.last_error}"
            changes.append(Change(key, ChangeKind.RECOVERED, base, "", generation=entry.generation, detail=detail))
        entry = replace(entry, error_count=0, error_alerted=False, last_error=None)
        if not entry.not_found:
            changes.append(Change(key, ChangeKind.NOT_FOUND, base, entry.generation or "", detail=failure.message))
        return changes, replace(entry, not_found=True)
    count = entry.error_count + 1
    entry = replace(entry, error_count=count, last_error=f"{failure.kind.value}: {failure.message}")
    if count >= rules.error_ticks and not entry.error_alerted:
        change = Change(
            key,
            ChangeKind.ERROR,
            base,
            "",
            generation=entry.generation,
            detail=f"{count} failed reads in a row; last: {failure.kind.value}: {failure.message}",
        )
        return [change], replace(entry, error_alerted=True)
    return [], entry


def _entry_from_task(task: Task, now: int) -> TargetState:
    return TargetState(
        generation=task.generation,
        status=task.status,
        progress=task.progress,
        start_time=task.start_time,
        end_time=task.end_time,
        metrics=task.metrics,
        errors=task.errors,
        progress_since=now,
    )


def _change(
    key: str, kind: ChangeKind, base: int, value: str, task: Task, *, old_status: str | None = None, detail: str = ""
) -> Change:
    return Change(
        target=key,
        kind=kind,
        base_rev=base,
        value=value,
        generation=task.generation,
        old_status=old_status,
        new_status=task.status,
        progress=task.progress,
        start_time=task.start_time,
        end_time=task.end_time,
        metrics=task.metrics,
        errors=task.errors,
        detail=detail,
    )
