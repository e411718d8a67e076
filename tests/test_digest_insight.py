"""What a digest tells beyond the run: times in the configured zone, ETA and trend, the comparison
with earlier runs, regressions and reminders (rendering only; the rules are in test_detect_insight)."""

from __future__ import annotations

from helpers.changes import change

from taskwatch.digest import DigestStyle, render
from taskwatch.insight import MINUS
from taskwatch.model import Change, ChangeKind, Insight, Task

MIN = 60_000
NOW = 1_795_000_000_000  # 2026-11-18 11:06:40 UTC
STYLE = DigestStyle(measure=lambda m: len(m.text.encode()))


def text(changes: list[Change], zone: str = "UTC") -> str:
    return render(changes, DigestStyle(measure=STYLE.measure, zone=zone)).text


def test_times_show_in_the_configured_zone_with_its_offset() -> None:
    done = change(
        ChangeKind.STATUS, new_status="success", old_status="running", start_time=NOW - 30 * MIN, end_time=NOW
    )
    assert "started 2026-11-18 10:36 UTC, ended 2026-11-18 11:06 UTC" in text([done])
    shanghai = text([done], "Asia/Shanghai")
    assert "started 2026-11-18 18:36 (+08:00), ended 2026-11-18 19:06 (+08:00), took 30m" in shanghai
    assert "ended 2026-11-18 06:06 (-05:00)" in text([done], "America/New_York")
    assert "(+05:30)" in text([done], "+05:30")


def test_a_progress_change_shows_the_eta_and_the_trend() -> None:
    seen = Insight(eta_ms=NOW + 35 * MIN, trend=(10.0, 20.0, 35.0, 50.0), at_ms=NOW)
    task = Task("7", "running", 50, NOW - 60 * MIN)
    moved = Change("app/fn/i@latest", ChangeKind.PROGRESS, 1, "7:50", task, detail="50", insight=seen)
    shown = text([moved], "Asia/Shanghai")
    assert "- ETA: ~35m left, ≈ 19:41" in shown
    progress_line = next(line for line in shown.splitlines() if line.startswith("- progress:"))
    assert progress_line.endswith("50% ▂▂▃▅"), progress_line


def test_no_eta_without_one_and_none_for_a_finished_run() -> None:
    plain = change(ChangeKind.PROGRESS, progress=50, detail="50")
    assert "ETA" not in text([plain])
    seen = Insight(eta_ms=NOW + MIN, at_ms=NOW)
    done = Change(
        "a/b/c@latest", ChangeKind.STATUS, 1, "7:success", Task("7", "success", 100, 1, 2), "running", insight=seen
    )
    assert "ETA" not in text([done])


def test_a_finished_run_shows_its_duration_and_metrics_against_earlier_runs() -> None:
    seen = Insight(last_duration_ms=28 * MIN, previous_metrics=(("recall", "93"), ("loss", "0.2")))
    task = Task("7", "success", 100, NOW - 32 * MIN, NOW, metrics=(("recall", "91"), ("loss", "0.19"), ("note", "x")))
    done = Change("a/b/c@latest", ChangeKind.STATUS, 1, "7:success", task, "running", insight=seen)
    shown = text([done])
    assert "took 32m, last run 28m, +14%" in shown
    assert f"recall 91 (93, {MINUS}2.2%)" in shown and "note=x" in shown


def test_regression_and_reminder_lines() -> None:
    task = Task("7", "success", 100, metrics=(("recall", "80"),))
    regression = Change("a/b/c@latest", ChangeKind.REGRESSION, 1, "7", task, detail="recall 80 (93, -14.0%)")
    reminder = Change("a/b/d@latest", ChangeKind.REMINDER, 1, "7:1", run="7", detail="still failing for 26h")
    shown = text([regression, reminder])
    assert "⚠️ regression" in shown and "recall 80 (93" in shown
    assert "⏰ reminder" in shown and "still failing for 26h" in shown
