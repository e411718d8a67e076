"""What a GetFunctionTask / ListFunctionTasks answer means: typed errors and a Task from a Result.

Pure: no I/O. Accepts every shape the SDK models and the API docs show (PascalCase or camelCase
keys, list items without a Generation, times in the wrong unit) and turns values no computation
survives into BadAnswer, never an exception of another kind.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from . import jsonsafe
from .model import FailureKind, Task

SYNTHETIC_IDENTITY = ("run:", "start:")  # a run listed without a Generation: it cannot be read by one
EARLIEST_MS = 946_684_800_000  # 2000-01-01
LATEST_MS = 4_102_444_800_000  # 2100-01-01


class OpenSearchError(Exception):
    kind = FailureKind.TRANSIENT


class TaskNotFound(OpenSearchError):
    kind = FailureKind.NOT_FOUND


class AuthFailed(OpenSearchError):
    kind = FailureKind.AUTH


class TransientError(OpenSearchError):
    kind = FailureKind.TRANSIENT


class BadAnswer(OpenSearchError):
    kind = FailureKind.INVALID


def parse_extend_info(raw: Any) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...], str | None]:
    """(metrics, errors, problem) from ExtendInfo, a JSON string.

    Text that is not JSON is a ``problem`` (logged; the task itself is still read). JSON holding
    values nobody can compute with (NaN, 1e999, 10**400, deep nesting) raises BadAnswer: the answer
    is bad, and the target's read fails this tick.
    """
    if raw in (None, ""):
        return (), (), None
    data = raw
    if isinstance(raw, str):
        try:
            data = jsonsafe.loads(raw)
        except jsonsafe.NotJson:
            return (), (), f"ExtendInfo is not JSON: {raw[:80]!r}"
        except jsonsafe.BadJson as err:
            raise BadAnswer(f"ExtendInfo holds a bad value: {err}") from None
    else:
        try:
            jsonsafe.check_depth(data)
        except jsonsafe.BadJson as err:
            raise BadAnswer(f"ExtendInfo holds a bad value: {err}") from None
    if not isinstance(data, dict):
        return (), (), f"ExtendInfo is not a JSON object: {str(raw)[:80]!r}"
    errors_raw = data.get("errors") or []
    if not isinstance(errors_raw, list):
        errors_raw = [errors_raw]
    errors = tuple(_short(e) for e in errors_raw)
    metrics = tuple(
        (str(k), _short(v))
        for k, v in data.items()
        if k != "errors" and isinstance(v, (int, float, str, bool)) and not _non_finite(v)
    )
    return metrics, errors, None


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_time(value: Any) -> int:
    """Milliseconds since the epoch, or 0 (unknown) for anything that is not a time in 2000-2100.

    Seconds, microseconds, negative numbers, huge numbers and text all end up unknown rather than
    crashing a date conversion later.
    """
    if isinstance(value, bool) or value is None:
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = _iso_ms(value)
    if not math.isfinite(number) or not EARLIEST_MS <= number <= LATEST_MS:
        return 0
    return int(number)


def _iso_ms(value: Any) -> float:
    """An ISO 8601 time ("2026-11-19T08:00:00Z") in ms; 0 when it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return 0
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() * 1000


def task_identity(result: dict[str, Any]) -> str:
    """The run's key: its ``Generation``; a list item without one is known by ``RunId``, then ``StartTime``."""
    generation = jsonsafe.field(result, "Generation")
    if generation not in (None, ""):
        if isinstance(generation, (dict, list, bool)) or _non_finite(generation):
            raise BadAnswer("Result.Generation is not a number or a string")
        if isinstance(generation, float) and generation.is_integer():
            generation = int(generation)
        return str(generation)[:200]
    run_id = jsonsafe.field(result, "RunId")
    if isinstance(run_id, (str, int)) and not isinstance(run_id, bool) and str(run_id):
        return f"{SYNTHETIC_IDENTITY[0]}{str(run_id)[:200]}"
    started = parse_time(jsonsafe.field(result, "StartTime"))
    if started:
        return f"{SYNTHETIC_IDENTITY[1]}{started}"
    raise BadAnswer("Result lacks a field: Generation (and has no RunId or StartTime either)")


def parse_task(result: Any) -> Task:
    """A Task from one ``Result`` object (any key casing); BadAnswer if a field is missing or unusable."""
    if not isinstance(result, dict):
        raise BadAnswer("Result is not an object")
    generation = task_identity(result)
    status = jsonsafe.field(result, "Status")
    if not isinstance(status, str) or not status.strip():
        raise BadAnswer("Result lacks a field or has a wrong type: Status")
    raw_progress = jsonsafe.field(result, "Progress")
    if isinstance(raw_progress, str):
        raw_progress = raw_progress.strip().removesuffix("%")
    try:
        progress = float(raw_progress or 0)
    except (TypeError, ValueError, OverflowError):
        raise BadAnswer(f"Result.Progress is not a number: {str(raw_progress)[:40]!r}") from None
    if not math.isfinite(progress):
        raise BadAnswer("Result.Progress is not a finite number")
    metrics, errors, problem = parse_extend_info(jsonsafe.field(result, "ExtendInfo"))
    run_id = jsonsafe.field(result, "RunId")
    return Task(
        generation=generation,
        status=status.strip().lower()[:40],
        progress=max(0.0, min(100.0, progress)),
        start_time=parse_time(jsonsafe.field(result, "StartTime")),
        end_time=parse_time(jsonsafe.field(result, "EndTime")),
        run_id=str(run_id)[:200] if isinstance(run_id, (str, int)) and not isinstance(run_id, bool) else "",
        metrics=metrics,
        errors=errors,
        extend_info_problem=problem,
    )
