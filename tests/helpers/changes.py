"""Changes as the rules make them, for the tests of the digest and of every notifier."""

from __future__ import annotations

from taskwatch.model import Change, ChangeKind, Task

TASK_FIELDS = ("progress", "start_time", "end_time", "metrics", "errors")


def change(
    kind: ChangeKind,
    target: str = "app/fn/inst@latest",
    *,
    generation: str | None = None,
    new_status: str | None = None,
    old_status: str | None = None,
    detail: str = "",
    **task_fields: object,
) -> Change:
    """A change as the rules make it: with the run as read when it has a status or run facts."""
    assert set(task_fields) <= set(TASK_FIELDS), task_fields
    if new_status is None and not task_fields:
        return Change(target, kind, 1, "v", old_status=old_status, detail=detail, run=generation)
    facts = {"progress": 0, **task_fields}
    task = Task(generation or "1", new_status or "running", **facts)  # type: ignore[arg-type]
    return Change(target, kind, 1, "v", task, old_status=old_status, detail=detail)


def failing(n: int, text: str = "OOM") -> Change:
    """Run ``n`` failed, with a dozen errors (quotes and backslashes in each) and 25 metrics."""
    return change(
        ChangeKind.STATUS,
        target=f"app_{n}/function/instance-{n}@latest",
        generation=str(1_700_000_000 + n),
        old_status="running",
        new_status="failed",
        progress=40,
        errors=tuple(f'{text} {i} "quoted" \\ back' for i in range(12)),
        metrics=tuple((f"metric_{i}", f"{i}.5") for i in range(25)),
    )


def progressing(n: int) -> Change:
    """A calm change: run ``n`` passed 50%."""
    return change(ChangeKind.PROGRESS, target=f"app/fn/inst{n}@latest", generation=str(n), progress=50, detail="50")
