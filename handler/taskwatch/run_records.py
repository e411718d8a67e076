"""What finished runs leave behind in a target's entry (the last runs, the last success's metrics,
when a failure was told), and the figures the next finished run is compared with. Pure."""

from __future__ import annotations

from dataclasses import replace

from .model import TERMINAL, FinishedRun, TargetState, Task
from .state import MAX_RUNS


def previous_figures(
    entry: TargetState, earlier: tuple[Task, ...], generation: str
) -> tuple[int, tuple[tuple[str, str], ...]]:
    """The duration of the last run that finished before ``generation`` and the metrics of the last
    successful one: from the state, else from older runs the answer carried."""
    runs = [r for r in entry.runs if r.generation != generation]
    duration = runs[-1].duration if runs else 0
    metrics = entry.success_metrics
    older = [r for r in earlier if r.generation != generation and r.status in TERMINAL]
    if not runs and older:
        duration = FinishedRun(older[0].generation, older[0].status, older[0].start_time, older[0].end_time).duration
    if not metrics:
        metrics = next((r.metrics for r in older if r.status == "success"), ())
    return duration, metrics


def record_finished(entry: TargetState, task: Task, now: int) -> TargetState:
    """``entry`` remembering that ``task`` finished: the last runs, the last success's metrics, and
    when a failure was told (reminders count from it)."""
    run = FinishedRun(task.generation, task.status, task.start_time, task.end_time)
    runs = (*[r for r in entry.runs if r.generation != task.generation], run)[-MAX_RUNS:]
    entry = replace(entry, runs=runs, history=())
    if task.status == "success":
        return replace(entry, success_metrics=task.metrics, told_at=0, failing_since=0)
    return replace(entry, told_at=now, failing_since=now)
