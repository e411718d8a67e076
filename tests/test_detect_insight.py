"""The rules that tell more than a status: ETA samples, comparison with earlier runs, regressions,
reminders. Pure: (previous entry, observation, now, rules) -> (changes, next entry)."""

from __future__ import annotations

from dataclasses import replace

from taskwatch.detect import Rules, detect
from taskwatch.insight import MINUS
from taskwatch.model import ChangeKind, FailureKind, FinishedRun, Observation, ReadFailure, State, TargetState, Task
from taskwatch.state import MAX_RUNS

KEY = "app/fn/inst@latest"
MIN = 60_000
HOUR = 60 * MIN
NOW = 1_800_000_000_000
RULES = Rules(progress_step=25, stall_minutes=60, error_ticks=3, regression_pct=2, remind_hours=24)


def entry(**fields: object) -> TargetState:
    base = TargetState(rev=4, generation="7", status="running", progress=30, progress_since=NOW - 10 * MIN)
    return replace(base, **fields)  # type: ignore[arg-type]


def run(generation: str = "7", status: str = "running", progress: float = 30, **extra: object) -> Task:
    return Task(generation, status, progress, **extra)  # type: ignore[arg-type]


def tick(old: TargetState | None, observation: Observation, now: int = NOW, rules: Rules = RULES):  # type: ignore[no-untyped-def]
    previous = State(revision=4, targets={KEY: old}) if old is not None else None
    changes, state = detect(previous, {KEY: observation}, now, rules)
    return changes, state.targets[KEY]


def test_progress_samples_give_an_eta_and_a_trend() -> None:
    old = entry(history=((NOW - 20 * MIN, 10.0), (NOW - 10 * MIN, 30.0)))
    changes, new = tick(old, Observation(task=run(progress=50)))
    assert [c.kind for c in changes] == [ChangeKind.PROGRESS]
    seen = changes[0].insight
    assert new.history[-1] == (NOW, 50.0) and seen.trend == (10.0, 30.0, 50.0)
    assert abs(seen.eta_ms - (NOW + 25 * MIN)) < MIN  # 2 %/min: 50 % to go takes 25 min
    assert seen.at_ms == NOW


def test_no_eta_until_two_samples_differ() -> None:
    changes, new = tick(entry(history=()), Observation(task=run(progress=51)))
    assert changes[0].insight.eta_ms == 0 and new.history == ((NOW, 51.0),)


def test_an_idle_tick_adds_no_sample_and_writes_nothing() -> None:
    old = entry(history=((NOW - 10 * MIN, 30.0),))
    previous = State(revision=4, targets={KEY: old})
    changes, state = detect(previous, {KEY: Observation(task=run())}, NOW, RULES)
    assert changes == [] and state is previous


def test_history_is_bounded() -> None:
    samples = tuple((NOW - (40 - n) * MIN, float(n)) for n in range(20))
    _, new = tick(entry(progress=19, history=samples), Observation(task=run(progress=21)))
    assert len(new.history) == 20 and new.history[-1] == (NOW, 21.0)


def test_a_finished_run_is_compared_with_the_last_finished_and_the_last_successful() -> None:
    old = entry(
        runs=(FinishedRun("5", "success", NOW - 30 * HOUR, NOW - 29 * HOUR), FinishedRun("6", "failed", 1, 2)),
        success_metrics=(("recall", "93"), ("loss", "0.20")),
    )
    task = run(
        status="success",
        progress=100,
        start_time=NOW - 32 * MIN,
        end_time=NOW,
        metrics=(("recall", "91"), ("loss", "0.19")),
    )
    changes, new = tick(old, Observation(task=task))
    assert [c.kind for c in changes] == [ChangeKind.STATUS, ChangeKind.REGRESSION]
    status, regression = changes
    assert status.insight.last_duration_ms == 1 and status.insight.previous_metrics == old.success_metrics
    assert regression.urgent and f"recall 91 (93, {MINUS}2.2%)" in regression.detail and "loss" not in regression.detail
    assert new.success_metrics == task.metrics and [r.generation for r in new.runs] == ["5", "6", "7"]
    assert new.told_at == 0 and new.history == ()


def test_no_regression_within_the_threshold_or_when_off() -> None:
    old = entry(success_metrics=(("recall", "93"),))
    task = run(status="success", progress=100, metrics=(("recall", "92"),))  # -1.1 %
    assert [c.kind for c in tick(old, Observation(task=task))[0]] == [ChangeKind.STATUS]
    worse = run(status="success", progress=100, metrics=(("recall", "80"),))
    off = replace(RULES, regression_pct=0)
    assert [c.kind for c in tick(old, Observation(task=worse), rules=off)[0]] == [ChangeKind.STATUS]


def test_without_stored_figures_the_earlier_runs_in_the_answer_are_used() -> None:
    earlier = (
        run("6", "failed", 40, start_time=NOW - 5 * HOUR, end_time=NOW - 4 * HOUR),
        run("5", "success", 100, start_time=NOW - 9 * HOUR, end_time=NOW - 8 * HOUR, metrics=(("ndcg", "0.61"),)),
    )
    task = run(status="success", progress=100, metrics=(("ndcg", "0.50"),))
    changes, _ = tick(entry(), Observation(task=task, earlier=earlier))
    assert changes[0].insight.last_duration_ms == HOUR
    assert changes[0].insight.previous_metrics == (("ndcg", "0.61"),)
    assert [c.kind for c in changes] == [ChangeKind.STATUS, ChangeKind.REGRESSION]


def test_finished_runs_are_bounded() -> None:
    runs = tuple(FinishedRun(str(n), "success", 1, 2) for n in range(MAX_RUNS))
    _, new = tick(entry(runs=runs), Observation(task=run(status="failed")))
    assert len(new.runs) == MAX_RUNS and new.runs[-1].generation == "7"


def test_a_failed_run_is_reminded_every_remind_hours_until_a_new_run() -> None:
    _, failed = tick(entry(), Observation(task=run(status="failed")))
    assert failed.told_at == NOW and failed.failing_since == NOW
    same = Observation(task=run(status="failed"))
    assert tick(failed, same, NOW + 23 * HOUR)[0] == []
    changes, reminded = tick(failed, same, NOW + 26 * HOUR)
    assert [c.kind for c in changes] == [ChangeKind.REMINDER] and "still failing for 26h" in changes[0].detail
    assert reminded.told_at == NOW + 26 * HOUR and reminded.failing_since == NOW
    assert tick(reminded, same, NOW + 27 * HOUR)[0] == []  # counted from the last time it was told
    again, _ = tick(reminded, same, NOW + 50 * HOUR)
    assert "still failing for 50h" in again[0].detail
    fresh, after = tick(reminded, Observation(task=run("8", "running", 1)), NOW + 60 * HOUR)
    assert [c.kind for c in fresh] == [ChangeKind.NEW_RUN] and after.told_at == 0


def test_an_unreadable_target_is_reminded_and_stops_on_recovery() -> None:
    failure = Observation(failure=ReadFailure(FailureKind.TRANSIENT, "timeout"))
    state = entry()
    for minute in range(3):
        changes, state = tick(state, failure, NOW + minute * MIN)
    assert [c.kind for c in changes] == [ChangeKind.ERROR] and state.told_at == NOW + 2 * MIN
    changes, state = tick(state, failure, NOW + 25 * HOUR)
    assert [c.kind for c in changes] == [ChangeKind.REMINDER] and "still unreadable" in changes[0].detail
    changes, state = tick(state, Observation(task=run(progress=31)), NOW + 26 * HOUR)
    assert [c.kind for c in changes] == [ChangeKind.RECOVERED] and state.told_at == 0
    assert tick(state, Observation(task=run(progress=32)), NOW + 80 * HOUR)[0] == []


def test_reminders_are_off_by_default() -> None:
    _, failed = tick(entry(), Observation(task=run(status="failed")))
    assert tick(failed, Observation(task=run(status="failed")), NOW + 99 * HOUR, Rules())[0] == []


def test_two_ticks_reading_one_state_agree_on_the_reminder_id() -> None:
    _, failed = tick(entry(), Observation(task=run(status="failed")))
    one, _ = tick(failed, Observation(task=run(status="failed")), NOW + 25 * HOUR)
    two, _ = tick(failed, Observation(task=run(status="failed")), NOW + 25 * HOUR + MIN)
    assert one[0].id == two[0].id
