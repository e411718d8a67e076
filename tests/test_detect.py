"""The pure core (`detect`), table-driven: (previous state, observation, now, rules) -> (changes, next state)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskwatch.detect import Rules, detect, progress_bucket
from taskwatch.model import ChangeKind, FailureKind, Observation, ReadFailure, State, TargetState, Task

KEY = "app/fn/inst@latest"
MIN = 60_000
NOW = 1_800_000_000_000
RULES = Rules(progress_step=25, stall_minutes=60, error_ticks=3)


def entry(**fields: object) -> TargetState:
    base = TargetState(rev=4, generation="7", status="running", progress=30, progress_since=NOW - 10 * MIN)
    return replace(base, **fields)  # type: ignore[arg-type]


def seen(generation: str = "7", status: str = "running", progress: float = 30, **extra: object) -> Observation:
    return Observation(task=Task(generation, status, progress, **extra))  # type: ignore[arg-type]


def failed(kind: FailureKind, message: str = "boom") -> Observation:
    return Observation(failure=ReadFailure(kind, message))


CASES = [
    # (name, previous entry, observation, expected kinds, expected fields of the next entry)
    ("first sight", None, seen(), ["watching"], {"status": "running", "progress_since": NOW}),
    ("nothing moved", entry(), seen(), [], {}),
    ("progress moves within a step", entry(), seen(progress=45), [], {"progress": 45, "progress_since": NOW}),
    ("progress crosses 50", entry(), seen(progress=51), ["progress"], {"progress": 51}),
    ("progress jumps several steps: one change", entry(), seen(progress=99), ["progress"], {}),
    ("exactly on a step counts", entry(), seen(progress=50), ["progress"], {}),
    ("progress going back is no crossing", entry(progress=60), seen(progress=55), [], {"progress": 55}),
    ("running -> success", entry(), seen(status="success", progress=100), ["status"], {"status": "success"}),
    ("running -> failed", entry(), seen(status="failed"), ["status"], {"status": "failed"}),
    ("success stays success", entry(status="success"), seen(status="success", progress=100), [], {"progress": 100}),
    ("any other status change", entry(status="waiting"), seen(status="running"), ["status"], {}),
    ("new generation", entry(), seen(generation="8", progress=0), ["new_run"], {"generation": "8", "progress": 0}),
    (
        "stalled after 60 min",
        entry(progress_since=NOW - 60 * MIN),
        seen(),
        ["stalled"],
        {"stalled": True, "progress_since": NOW - 60 * MIN},
    ),
    ("not stalled at 59 min", entry(progress_since=NOW - 59 * MIN), seen(), [], {}),
    ("stall told once", entry(progress_since=NOW - 300 * MIN, stalled=True), seen(), [], {}),
    ("moving again", entry(stalled=True), seen(progress=31), ["moving"], {"stalled": False, "progress_since": NOW}),
    ("moving again across a step", entry(stalled=True), seen(progress=52), ["progress", "moving"], {}),
    ("a finished task never stalls", entry(status="success", progress_since=0), seen(status="success"), [], {}),
    ("not found", entry(), failed(FailureKind.NOT_FOUND), ["not_found"], {"not_found": True}),
    ("not found told once", entry(not_found=True), failed(FailureKind.NOT_FOUND), [], {}),
    ("found again", entry(not_found=True), seen(), ["recovered"], {"not_found": False}),
    ("first failed read: no message", entry(), failed(FailureKind.TRANSIENT), [], {"error_count": 1}),
    ("second failed read", entry(error_count=1), failed(FailureKind.AUTH), [], {"error_count": 2}),
    ("third failed read alerts", entry(error_count=2), failed(FailureKind.AUTH), ["error"], {"error_alerted": True}),
    (
        "alert told once",
        entry(error_count=5, error_alerted=True),
        failed(FailureKind.TRANSIENT),
        [],
        {"error_count": 6},
    ),
    (
        "good read after an alert",
        entry(error_count=5, error_alerted=True),
        seen(),
        ["recovered"],
        {"error_count": 0, "error_alerted": False},
    ),
    ("good read after two failures: quiet reset", entry(error_count=2), seen(), [], {"error_count": 0}),
    (
        "not found ends an error alert",
        entry(error_count=4, error_alerted=True, last_error="transient: 503"),
        failed(FailureKind.NOT_FOUND),
        ["recovered", "not_found"],
        {"error_alerted": False, "not_found": True},
    ),
    (
        "alert on a never-seen target, then found",
        TargetState(rev=2, error_count=3, error_alerted=True, last_error="auth: Forbidden"),
        seen(),
        ["recovered", "watching"],
        {"error_alerted": False, "status": "running"},
    ),
]


@pytest.mark.parametrize(("name", "old", "observation", "kinds", "fields"), CASES, ids=[c[0] for c in CASES])
def test_rules(
    name: str, old: TargetState | None, observation: Observation, kinds: list[str], fields: dict[str, object]
) -> None:
    previous = State(revision=9, targets={KEY: old}) if old else None
    changes, after = detect(previous, {KEY: observation}, NOW, RULES)

    assert [c.kind.value for c in changes] == kinds
    for name_, value in fields.items():
        assert getattr(after.targets[KEY], name_) == value, name_
    if not kinds and old is not None and after.targets[KEY] == old:
        assert after is previous  # nothing to save


def test_latest_reports_the_previous_generation_final_status_and_the_new_run() -> None:
    previous = State(revision=9, targets={KEY: entry()})
    observation = Observation(
        task=Task("8", "running", 0), stored_run=Task("7", "failed", 30, errors=("disk full",), end_time=NOW)
    )

    changes, after = detect(previous, {KEY: observation}, NOW, RULES)

    assert [(c.kind, c.generation, c.old_status, c.new_status) for c in changes] == [
        (ChangeKind.STATUS, "7", "running", "failed"),
        (ChangeKind.NEW_RUN, "8", None, "running"),
    ]
    assert changes[0].urgent and changes[0].errors == ("disk full",)
    assert after.targets[KEY].generation == "8"


def test_change_ids_are_deterministic_and_distinguish_recurrences() -> None:
    previous = State(revision=9, targets={KEY: entry(progress_since=NOW - 61 * MIN)})
    first, after = detect(previous, {KEY: seen()}, NOW, RULES)
    again, _ = detect(previous, {KEY: seen()}, NOW + 5 * MIN, RULES)
    assert first[0].id == again[0].id  # two ticks over the same state agree

    moved, after_move = detect(after, {KEY: seen(progress=31)}, NOW + MIN, RULES)
    second_stall, _ = detect(after_move, {KEY: seen(progress=31)}, NOW + 62 * MIN, RULES)
    assert [c.kind for c in moved] == [ChangeKind.MOVING]
    assert [c.kind for c in second_stall] == [ChangeKind.STALLED]
    assert second_stall[0].id != first[0].id  # a second stall is a new change


def test_revision_and_entry_rev_move_only_on_change() -> None:
    previous = State(revision=9, targets={KEY: entry()})
    _, same = detect(previous, {KEY: seen()}, NOW, RULES)
    _, moved = detect(previous, {KEY: seen(progress=31)}, NOW, RULES)
    assert same is previous
    assert moved.revision == 10 and moved.targets[KEY].rev == 10


def test_targets_added_and_removed() -> None:
    other = "app/fn/other@3"
    previous = State(revision=9, targets={KEY: entry(), "app/fn/gone@1": entry()})
    changes, after = detect(previous, {KEY: seen(), other: seen(generation="3")}, NOW, RULES)
    assert [(c.target, c.kind) for c in changes] == [(other, ChangeKind.WATCHING)]
    assert set(after.targets) == {KEY, other}


def test_switches_off() -> None:
    rules = Rules(progress_step=0, stall_minutes=0, error_ticks=1)
    previous = State(revision=1, targets={KEY: entry(progress_since=0)})
    changes, _ = detect(previous, {KEY: seen(progress=99)}, NOW, rules)
    assert changes == []
    changes, _ = detect(previous, {KEY: seen()}, NOW, rules)
    assert changes == []
    changes, _ = detect(previous, {KEY: failed(FailureKind.TRANSIENT)}, NOW, rules)
    assert [c.kind for c in changes] == [ChangeKind.ERROR]


@pytest.mark.parametrize(
    ("progress", "step", "bucket"), [(0, 25, 0), (24.99, 25, 0), (25, 25, 1), (100, 25, 4), (33.3, 10, 3)]
)
def test_progress_bucket(progress: float, step: float, bucket: int) -> None:
    assert progress_bucket(progress, step) == bucket


def test_state_round_trips_through_json() -> None:
    state = State(revision=3, targets={KEY: entry(metrics=(("recall", "91"),), errors=("x",), last_error="e")})
    assert State.from_json(state.to_json()) == state
    for bad in ([], {"format": 1}, {"format": 1, "revision": 1, "targets": {"k": {"metrics": []}}}, {"format": 99}):
        with pytest.raises(ValueError):
            State.from_json(bad)


# --- several runs between two ticks, epochs, one target's crash --------------------------------


def test_runs_between_two_ticks_are_told_oldest_first_with_their_final_status() -> None:
    previous = State(revision=5, targets={KEY: entry()})
    observation = Observation(
        task=Task("10", "running", 5),
        stored_run=Task("7", "success", 100),
        between=(Task("8", "failed", 20), Task("9", "success", 100)),
    )
    changes, state = detect(previous, {KEY: observation}, NOW, RULES)
    assert [(c.generation, c.kind.value, c.new_status) for c in changes] == [
        ("7", "status", "success"),
        ("8", "new_run", "failed"),
        ("8", "status", "failed"),
        ("9", "new_run", "success"),
        ("9", "status", "success"),
        ("10", "new_run", "running"),
    ]
    assert [c.urgent for c in changes] == [False, False, True, False, False, False]
    assert state.targets[KEY].generation == "10"
    assert len({c.id for c in changes}) == len(changes)


def test_a_new_run_that_already_finished_is_told_with_its_final_status() -> None:
    changes, _ = detect(State(revision=5, targets={KEY: entry()}), {KEY: seen("8", "failed", 40)}, NOW, RULES)
    assert [(c.kind.value, c.new_status) for c in changes] == [("new_run", "failed"), ("status", "failed")]


def test_new_targets_keep_their_change_id_until_a_target_is_dropped() -> None:
    other = "app/fn/other@latest"
    stored = State(revision=9, targets={KEY: entry()}, epoch=3)
    first, state = detect(stored, {KEY: seen(), other: seen("2")}, NOW, RULES)
    # A concurrent commit lost the new entry: the next tick computes the very same id again.
    again, _ = detect(replace(state, targets={KEY: state.targets[KEY]}), {KEY: seen(), other: seen("2")}, NOW, RULES)
    assert [c.id for c in first] == [c.id for c in again] and first[0].base_rev == 3
    # Dropping a target starts a new epoch: a target added again later is told again.
    dropped, after = detect(state, {other: seen("2")}, NOW, RULES)
    assert after.epoch == state.revision + 1 and dropped == []
    readded, _ = detect(after, {other: seen("2"), KEY: seen()}, NOW, RULES)
    assert [c.kind for c in readded] == [ChangeKind.WATCHING] and readded[0].id != first[0].id


def test_one_target_whose_data_crashes_the_rules_becomes_a_read_failure() -> None:
    class Exploding(float):
        def __ne__(self, other: object) -> bool:
            raise ValueError("year 58851 is out of range")

    other = "app/fn/other@latest"
    previous = State(revision=2, targets={KEY: entry(), other: entry()})
    observations = {KEY: seen(progress=Exploding(40)), other: seen(status="success", progress=100)}
    changes, state = detect(previous, observations, NOW, replace(RULES, error_ticks=1))
    assert [(c.target, c.kind.value) for c in changes] == [(KEY, "error"), (other, "status")]
    assert "cannot process the answer: ValueError" in changes[0].detail
    assert state.targets[KEY].status == "running" and state.targets[other].status == "success"


@pytest.mark.parametrize(
    "raw",
    [
        {"format": 1, "revision": float("inf"), "targets": {}},
        {"format": 1, "revision": -1, "targets": {}},
        {"format": 1, "revision": 2**60, "targets": {}},
        {"format": 1, "revision": True, "targets": {}},
        {"format": 1, "revision": 1, "targets": {KEY: {"progress": float("nan")}}},
        {"format": 1, "revision": 1, "targets": {KEY: {"progress": 1e300}}},
        {"format": 1, "revision": 1, "targets": {KEY: {"startTime": 1.5}}},
        {"format": 1, "revision": 1, "targets": {KEY: {"stalled": "yes"}}},
        {"format": 1, "revision": 1, "targets": {KEY: {"errors": [{"x": 1}]}}},
        {"format": 1, "revision": 1, "targets": {KEY: []}},
        {"format": 1, "revision": 1, "epoch": "3", "targets": {}},
    ],
)
def test_stored_values_of_a_wrong_type_or_range_are_corruption(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        State.from_json(raw)


def test_a_state_without_an_epoch_takes_its_revision() -> None:
    state = State.from_json({"format": 1, "revision": 7, "targets": {KEY: entry().to_json()}})
    assert state.epoch == 7 and State.from_json(state.to_json()) == state
