"""Reading every watched target: a bounded pool, a deadline, and defensive ``@latest`` listing.

A failed read becomes a ReadFailure of that target, never an exception, so one target's trouble
never hides another's changes.
"""

from __future__ import annotations

import logging
import time

from . import logs
from .model import TERMINAL, FailureKind, Observation, ReadFailure, State, TargetState, Task
from .opensearch import SYNTHETIC_IDENTITY, OpenSearchError, TaskNotFound
from .pool import parallel
from .ports import LIST_PAGE_SIZE, TaskReader
from .redact import scrub
from .settings import Target

MAX_LIST_PAGES = 3  # ListFunctionTasks pages read per @latest target and tick


def observe(
    targets: tuple[Target, ...],
    previous: State | None,
    reader: TaskReader,
    concurrency: int,
    deadline: float | None = None,
) -> dict[str, Observation]:
    """Read every target through a bounded pool; a failed read becomes a ReadFailure, never an exception.

    ``deadline`` (time.monotonic()) stops starting new reads, so that in an outage where every call
    times out the tick still saves error counts and delivers before FC's timeout kills it.
    """

    def one(target: Target) -> Observation:
        if deadline is not None and time.monotonic() > deadline:
            return Observation(failure=ReadFailure(FailureKind.TRANSIENT, "not read: the tick ran out of time"))
        old = previous.targets.get(target.key) if previous else None
        try:
            if target.generation is not None:
                return observe_fixed(target, old, reader)
            return observe_latest(target, old, reader)
        # Scrubbed here, at the source: a remote error may echo a credential, and this text goes
        # on to the state, the chat and the HTTP answers.
        except OpenSearchError as err:
            return Observation(failure=ReadFailure(err.kind, scrub(str(err))))
        except Exception as err:  # a reader bug must not hide the other targets
            cause = scrub(f"{type(err).__name__}: {err}")[:300]
            return Observation(failure=ReadFailure(FailureKind.TRANSIENT, cause))

    if not targets:
        return {}
    results = parallel(one, targets, concurrency)
    for target, observation in zip(targets, results, strict=True):
        if observation.task is not None and observation.task.extend_info_problem:
            logs.event(
                "extend_info_unreadable", logging.WARNING, target=target.key, cause=observation.task.extend_info_problem
            )
    return {target.key: result for target, result in zip(targets, results, strict=True)}


def observe_fixed(target: Target, old: TargetState | None, reader: TaskReader) -> Observation:
    """A run named by its generation; when it has just finished and the state holds no earlier run to
    compare it with, one ListFunctionTasks call for the runs before it."""
    task = reader.get_task(target, target.generation or "")
    just_finished = task.status in TERMINAL and old is not None and old.status != task.status
    if not just_finished or old is None or old.runs or old.success_metrics:
        return Observation(task=task)
    try:
        listed = reader.list_tasks(target, 1, LIST_PAGE_SIZE)
    except OpenSearchError as err:  # the comparison is extra: its failure costs the change nothing
        logs.event("earlier_runs_unread", logging.WARNING, target=target.key, cause=scrub(str(err)))
        listed = []
    earlier = [t for t in listed if t.generation != task.generation and t.start_time <= task.start_time]
    return Observation(task=task, earlier=tuple(earlier))


def observe_latest(target: Target, old: TargetState | None, reader: TaskReader) -> Observation:
    """The newest run of an ``@latest`` target, every run that started after the stored one, and
    the stored one as it is now (so its final status is not lost).

    Pages through ListFunctionTasks (newest first) until the stored run shows up, at most
    MAX_LIST_PAGES pages: an idle tick costs one call. If that read fails, the whole target fails
    this tick (its entry is kept) and the next tick reads it all again.
    """
    known = old.generation if old is not None else None
    newer: list[Task] = []
    found: Task | None = None
    earlier: tuple[Task, ...] = ()  # runs older than the stored one on the same page: no extra call
    for page in range(1, MAX_LIST_PAGES + 1):
        tasks = reader.list_tasks(target, page, LIST_PAGE_SIZE)
        for index, task in enumerate(tasks):
            if task.generation == known:
                found, earlier = task, tuple(tasks[index + 1 :])
                break
            if all(task.generation != seen.generation for seen in newer):
                newer.append(task)
        if found is not None or known is None or len(tasks) < LIST_PAGE_SIZE:
            break
    if not newer:
        if found is None:
            return Observation(failure=ReadFailure(FailureKind.NOT_FOUND, "no task in this instance yet"))
        return Observation(task=found, earlier=earlier)
    newest, older = newer[0], newer[1:]
    if old is None or known is None:
        return Observation(task=newest)  # first sight: only the newest run is watched
    if found is None:
        # The stored run is beyond the pages read (or gone): tell only runs that started after it.
        older = [t for t in older if old.start_time and t.start_time > old.start_time]
        if old.status not in TERMINAL and not known.startswith(SYNTHETIC_IDENTITY):
            try:
                found = reader.get_task(target, known)
            except TaskNotFound as err:
                logs.event("previous_generation_gone", logging.WARNING, target=target.key, cause=str(err))
    return Observation(task=newest, stored_run=found, between=tuple(reversed(older)), earlier=earlier)
