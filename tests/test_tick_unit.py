"""tick.py pieces with in-memory parts: the read deadline, the bounded pool, the state merge."""

from __future__ import annotations

import threading
import time

from taskwatch.model import FailureKind, State, TargetState, Task
from taskwatch.reading import observe
from taskwatch.settings import Target
from taskwatch.tick import merge


class SlowReader:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def get_task(self, target: Target, generation: str) -> Task:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        with self._lock:
            self.active -= 1
        return Task(generation, "running", 10)

    def list_tasks(self, target: Target, page_number: int = 1, page_size: int = 20) -> list[Task]:
        return [self.get_task(target, "1")]


TARGETS = tuple(Target("app", "fn", f"i{n}", "1") for n in range(40))


def test_reads_are_bounded_by_the_pool() -> None:
    reader = SlowReader(0.01)
    observed = observe(TARGETS, None, reader, concurrency=4)
    assert reader.calls == 40 and reader.peak <= 4
    assert list(observed) == [t.key for t in TARGETS]  # settings order kept


def test_deadline_stops_new_reads_and_marks_the_rest_unread() -> None:
    reader = SlowReader(0.05)
    observed = observe(TARGETS, None, reader, concurrency=2, deadline=time.monotonic() + 0.12)
    unread = [o for o in observed.values() if o.failure is not None]
    assert 0 < reader.calls < 40 and len(unread) == 40 - reader.calls
    assert all(o.failure.kind == FailureKind.TRANSIENT and "ran out of time" in o.failure.message for o in unread)  # type: ignore[union-attr]


def test_merge_keeps_the_old_entry_of_a_target_delivered_elsewhere() -> None:
    old = State(revision=3, targets={"a": TargetState(rev=1, status="running"), "b": TargetState(rev=2)})
    new = State(
        revision=4,
        targets={"a": TargetState(rev=4, status="success"), "b": TargetState(rev=4), "c": TargetState(rev=4)},
    )
    merged = merge(old, new, {"a", "c"})
    assert merged.targets == {"a": old.targets["a"], "b": new.targets["b"]}
    assert merge(old, new, set()) is new


def test_read_budget_is_half_the_function_timeout() -> None:
    from helpers.fc import Context, Function

    from taskwatch.wiring import read_budget

    assert read_budget(Context(function=Function(timeout=180))) == 90
    assert read_budget(Context(function=Function(timeout=4))) == 5  # never below 5 s
    assert read_budget(None) is None  # the CLI: no deadline
