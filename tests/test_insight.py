"""insight: the figures a message adds. Tables pin the wording; properties pin what must hold for any
input (an ETA never in the past, a quiet window that always ends, a better metric never "worse")."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskwatch.insight import (
    BLOCKS,
    MetricDelta,
    add_sample,
    compare_metrics,
    duration_line,
    eta,
    format_clock,
    format_eta,
    format_time,
    in_quiet,
    lower_is_better,
    metric_line,
    quiet_ends,
    quiet_window,
    regressions,
    sparkline,
    zone,
)

MINUTE = 60_000
HOUR = 60 * MINUTE
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
PROPERTIES = settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: ZoneInfo | None = None, fold: int = 0
) -> int:
    """Milliseconds since the epoch of a wall-clock time in ``tz`` (UTC when None)."""
    wall = datetime(year, month, day, hour, minute, tzinfo=tz or timezone.utc, fold=fold)
    return int(wall.timestamp()) * 1000


# --- zones and times ---------------------------------------------------------------------------


def test_zone_kinds() -> None:
    assert zone("UTC") is timezone.utc
    assert zone("+08:00") == timezone(timedelta(hours=8))
    assert zone("-03:30") == timezone(-timedelta(hours=3, minutes=30))
    assert zone("America/New_York") == NEW_YORK
    assert zone("Asia/Shanghai") is zone("Asia/Shanghai")  # cached


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "+8", "+24:00", "utc/../etc"])
def test_zone_unknown_names_the_value(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(name))):
        zone(name)


@pytest.mark.parametrize(
    ("ms", "tz", "shown"),
    [
        (at(2026, 11, 28, 1, 30), SHANGHAI, "2026-11-28 09:30 (+08:00)"),
        (at(2026, 11, 28, 1, 30), timezone.utc, "2026-11-28 01:30 (+00:00)"),
        (at(2026, 11, 28, 1, 30), timezone(-timedelta(hours=3, minutes=30)), "2026-11-27 22:00 (-03:30)"),
        (at(2026, 7, 1, 12), NEW_YORK, "2026-07-01 08:00 (-04:00)"),  # daylight time
        (at(2026, 12, 1, 12), NEW_YORK, "2026-12-01 07:00 (-05:00)"),  # standard time
        (0, SHANGHAI, "unknown"),
        (-1, timezone.utc, "unknown"),
        (at(1999, 12, 31, 12), timezone.utc, "unknown"),
        (at(2101, 1, 1, 12), timezone.utc, "unknown"),
        (1_764_000_000, timezone.utc, "unknown"),  # seconds, not milliseconds: January 1970
        (10**30, SHANGHAI, "unknown"),  # beyond datetime
    ],
)
def test_format_time(ms: int, tz: timezone | ZoneInfo, shown: str) -> None:
    assert format_time(ms, tz) == shown


@pytest.mark.parametrize(
    ("ms", "ref", "shown"),
    [
        (at(2026, 11, 28, 2, 42), at(2026, 11, 28, 1), "10:42"),
        (at(2026, 11, 29, 2, 42), at(2026, 11, 28, 1), "11-29 10:42"),
        (at(2026, 11, 28, 16, 30), at(2026, 11, 28, 15), "11-29 00:30"),  # the same UTC day, not local
        (at(2026, 11, 28, 2, 42), 10**30, "11-28 10:42"),
        (0, at(2026, 11, 28), "unknown"),
    ],
)
def test_format_clock(ms: int, ref: int, shown: str) -> None:
    assert format_clock(ms, SHANGHAI, ref) == shown


# --- ETA ---------------------------------------------------------------------------------------

T0 = at(2026, 11, 28, 1)


@pytest.mark.parametrize(
    ("samples", "now", "expected"),
    [
        ([], T0, None),
        ([(T0, 10.0)], T0, None),
        ([(T0, 10.0), (T0 + MINUTE, 10.0)], T0 + MINUTE, None),  # flat: no pace
        ([(T0, 20.0), (T0 + MINUTE, 10.0)], T0 + MINUTE, None),  # falling
        ([(T0, 50.0), (T0 + MINUTE, 100.0)], T0 + MINUTE, None),  # already done
        ([(T0, 10.0), (T0, 20.0)], T0, None),  # one instant
        ([(T0, 10.0), (T0 + MINUTE, math.nan)], T0, None),
        ([(T0, 10.0), (T0 + MINUTE, math.inf)], T0, None),
        ([(T0, 10.0), (T0 + MINUTE, 1e300)], T0, None),
        ([(10**40, 10.0), (10**40 + MINUTE, 20.0)], T0, None),
        ([(T0, 10.0), (T0 + 10 * HOUR, 10.0000001)], T0, None),  # ends in centuries
        ([(T0, 0.0), (T0 + MINUTE, 10.0), (T0 + 2 * MINUTE, 20.0)], T0 + 2 * MINUTE, T0 + 10 * MINUTE),
        ([(T0, 0.0), (T0 + MINUTE, 99.0)], T0 + HOUR, T0 + HOUR + MINUTE),  # overdue: a minute from now
        ([(T0, 0.0), (T0 + 10 * MINUTE, 50.0)], T0 + 10 * MINUTE, T0 + 20 * MINUTE),
        ([(T0, 0), (T0 + MINUTE, 1)], T0 + MINUTE, T0 + 100 * MINUTE),  # whole numbers too
    ],
)
def test_eta(samples: list[tuple[int, float]], now: int, expected: int | None) -> None:
    assert eta(samples, now) == expected


def test_eta_uses_the_newest_twenty() -> None:
    """An older pace (here: backwards) no longer counts once twenty newer samples describe the run."""
    old = [(T0 + i * MINUTE, 90.0 - i) for i in range(10)]
    new = [(T0 + (10 + i) * MINUTE, float(i)) for i in range(20)]
    assert eta(old + new, T0 + 29 * MINUTE) == T0 + 110 * MINUTE


@pytest.mark.parametrize(
    ("end", "now", "shown"),
    [
        (at(2026, 11, 28, 2, 5), at(2026, 11, 28, 1, 30), "~35m left, ≈ 10:05"),
        (at(2026, 11, 28, 2, 5) + 1, at(2026, 11, 28, 1, 30), "~36m left, ≈ 10:05"),  # rounds up
        (at(2026, 11, 28, 2, 35), at(2026, 11, 28, 1, 30), "~1h 05m left, ≈ 10:35"),
        (at(2026, 11, 28, 1, 30) + 1_000, at(2026, 11, 28, 1, 30), "~1m left, ≈ 09:30"),  # never "0m"
        (at(2026, 11, 28, 1), at(2026, 11, 28, 1, 30), "~1m left, ≈ 09:00"),
        (at(2026, 11, 28, 17), at(2026, 11, 28, 1, 30), "~15h 30m left, ≈ 11-29 01:00"),
    ],
)
def test_format_eta(end: int, now: int, shown: str) -> None:
    assert format_eta(end, now, SHANGHAI) == shown


def test_format_eta_beyond_the_calendar_drops_the_clock() -> None:
    now = at(2026, 11, 28)
    assert format_eta(now + 10**6 * HOUR, now, SHANGHAI) == "~1000000h 00m left"


# --- trend -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "width", "line"),
    [
        ([], 12, ""),
        ([0.0, 50.0, 100.0], 12, "▁▅█"),
        ([-5.0, 120.0, math.nan, math.inf, -math.inf], 12, "▁█▁█▁"),
        ([float(i) for i in range(0, 100, 5)], 12, "▄▄▅▅▅▆▆▆▇▇▇█"),  # the newest 12 of 20
        ([10.0, 20.0, 30.0], 2, "▂▃"),
        ([10.0, 20.0], 0, ""),
        ([50.0] * 30, 40, "▅" * 12),  # never wider than 12
    ],
)
def test_sparkline(values: list[float], width: int, line: str) -> None:
    assert sparkline(values, width) == line


@pytest.mark.parametrize(
    ("history", "progress", "limit", "result"),
    [
        ((), 10.0, 20, ((100, 10.0),)),
        (((1, 10.0),), 10.0, 20, ((1, 10.0),)),  # a flat stretch keeps its first sample
        (((1, 10.0),), 20.0, 20, ((1, 10.0), (100, 20.0))),
        (((1, 10.0), (2, 20.0)), 30.0, 2, ((2, 20.0), (100, 30.0))),  # the oldest goes
        (((1, 10.0),), math.nan, 20, ((1, 10.0),)),
        (((1, 10.0),), 20.0, 0, ()),
    ],
)
def test_add_sample(
    history: tuple[tuple[int, float], ...], progress: float, limit: int, result: tuple[tuple[int, float], ...]
) -> None:
    assert add_sample(history, 100, progress, limit) == result


# --- finished runs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("took", "last", "line"),
    [
        (32 * MINUTE, 28 * MINUTE, "took 32m, last run 28m, +14%"),
        (28 * MINUTE, 32 * MINUTE, "took 28m, last run 32m, \u221213%"),
        (32 * MINUTE, None, "took 32m"),
        (32 * MINUTE, 32 * MINUTE, "took 32m, last run 32m, ±0%"),
        (32 * MINUTE + 1_000, 32 * MINUTE, "took 32m 01s, last run 32m, ±0%"),  # rounds to 0
        (3 * MINUTE, 2 * MINUTE, "took 3m, last run 2m, +50%"),
        (201, 200, "took 0s, last run 0s, +1%"),  # 0.5% rounds away from zero
        (32 * MINUTE, 0, "took 32m, last run 0s"),
        (
            65 * MINUTE,
            10**40,
            "took 1h 05m, last run " + f"{10**37 // 3600}h {10**37 % 3600 // 60:02d}m" + ", \u2212100%",
        ),
    ],
)
def test_duration_line(took: int, last: int | None, line: str) -> None:
    assert duration_line(took, last) == line


@pytest.mark.parametrize(
    ("name", "listed", "lower"),
    [
        ("val_loss", (), True),
        ("Error_Rate", (), True),
        ("RMSE", (), True),
        ("mae", (), True),
        ("p99_latency", (), True),
        ("recall", (), False),
        ("auc", (), False),
        ("val_loss", ("perplexity",), False),  # a list decides alone
        ("Perplexity", ("perplexity",), True),
    ],
)
def test_lower_is_better(name: str, listed: tuple[str, ...], lower: bool) -> None:
    assert lower_is_better(name, listed) is lower


def test_compare_metrics() -> None:
    metrics = [
        ("recall", "91"),
        ("loss", "0.5"),
        ("label", "good"),
        ("flag", "True"),
        ("nan", "nan"),
        ("auc", "0.9"),
        ("new", "1"),
        ("zero", "3"),
        ("recall", "1"),
    ]
    previous = [("auc", "0.8"), ("loss", "0.4"), ("recall", "93"), ("label", "1"), ("flag", "1"), ("nan", "1")]
    previous += [("zero", "0"), ("auc", "0.1")]
    deltas = compare_metrics(metrics, previous, ())
    assert [d.name for d in deltas] == ["recall", "loss", "auc", "zero"]  # the order of `metrics`
    recall, loss, auc, zero = deltas
    assert recall.worse and recall.pct == pytest.approx(-2.1505, abs=1e-3)
    assert recall.worse_pct == pytest.approx(2.1505, abs=1e-3)
    assert loss.worse and loss.worse_pct == pytest.approx(25)  # a loss going up is worse
    assert not auc.worse and auc.worse_pct == 0 and auc.pct == pytest.approx(12.5)  # the first previous
    assert zero == MetricDelta("zero", 3.0, 0.0, None, False, 0.0)
    assert compare_metrics([("zero_loss", "1")], [("zero_loss", "0")], ())[0].worse_pct == math.inf
    assert not compare_metrics([("loss", "0.5")], [("loss", "0.4")], ("recall",))[0].worse


@pytest.mark.parametrize(
    ("value", "previous", "line"),
    [
        (91.0, 93.0, "recall 91 (93, \u22122.2%)"),
        (0.5, 0.4, "recall 0.5 (0.4, +25.0%)"),
        (93.0, 93.0, "recall 93 (93, ±0.0%)"),
        (93.0001, 93.0, "recall 93.0001 (93, ±0.0%)"),
        (1234567.0, 1.0, "recall 1.23457e+06 (1, +123456600.0%)"),
        (5.0, 0.0, "recall 5 (0)"),
        (-1.0, -2.0, "recall -1 (-2, +50.0%)"),
    ],
)
def test_metric_line(value: float, previous: float, line: str) -> None:
    (delta,) = compare_metrics([("recall", repr(value))], [("recall", repr(previous))], ())
    assert metric_line(delta) == line


def test_regressions() -> None:
    deltas = compare_metrics(
        [("recall", "90"), ("auc", "0.79"), ("loss", "2")], [("recall", "100"), ("auc", "0.8"), ("loss", "1")], ()
    )
    assert [d.name for d in regressions(deltas, 5)] == ["recall", "loss"]
    assert [d.name for d in regressions(deltas, 10)] == ["loss"]  # more than, not equal to
    assert regressions(deltas, 0) == []  # off


# --- quiet hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "window"),
    [("", None), ("23:00-08:00", (1380, 480)), ("00:00-23:59", (0, 1439)), ("12:30-13:45", (750, 825))],
)
def test_quiet_window(spec: str, window: tuple[int, int] | None) -> None:
    assert quiet_window(spec) == window


@pytest.mark.parametrize("spec", ["23:00", "24:00-08:00", "8:00-9:00", "08:00-08:00", "23:00\u201308:00"])
def test_quiet_window_refuses(spec: str) -> None:
    with pytest.raises(ValueError, match=r"23:00-08:00|same minute"):
        quiet_window(spec)


@pytest.mark.parametrize(
    ("spec", "hour", "minute", "quiet"),
    [
        ("23:00-08:00", 23, 30, True),
        ("23:00-08:00", 7, 59, True),
        ("23:00-08:00", 8, 0, False),
        ("23:00-08:00", 23, 0, True),
        ("23:00-08:00", 22, 59, False),
        ("23:00-08:00", 0, 0, True),
        ("01:00-05:00", 0, 59, False),
        ("01:00-05:00", 1, 0, True),
        ("01:00-05:00", 5, 0, False),
        ("", 3, 0, False),
    ],
)
def test_in_quiet(spec: str, hour: int, minute: int, quiet: bool) -> None:
    assert in_quiet(spec, at(2026, 11, 28, hour, minute, SHANGHAI), SHANGHAI) is quiet


@pytest.mark.parametrize(
    ("spec", "now", "ends"),
    [
        ("23:00-08:00", at(2026, 11, 28, 23, 30, NEW_YORK), at(2026, 11, 29, 8, 0, NEW_YORK)),
        ("23:00-08:00", at(2026, 11, 28, 7, 59, NEW_YORK), at(2026, 11, 28, 8, 0, NEW_YORK)),
        ("23:00-08:00", at(2026, 11, 28, 12, 0, NEW_YORK), at(2026, 11, 28, 12, 0, NEW_YORK)),  # not quiet
        ("", at(2026, 11, 28, 3, 0, NEW_YORK), at(2026, 11, 28, 3, 0, NEW_YORK)),
        # Spring forward (2026-03-08, 02:00 -> 03:00): a night is an hour shorter...
        ("23:00-08:00", at(2026, 3, 7, 23, 0, NEW_YORK), at(2026, 3, 7, 23, 0, NEW_YORK) + 8 * HOUR),
        # ... and an end in the skipped hour comes when the clock jumps past it.
        ("01:00-02:30", at(2026, 3, 8, 1, 30, NEW_YORK), at(2026, 3, 8, 7, 0)),
        # Fall back (2026-11-01, 02:00 -> 01:00): a night is an hour longer...
        ("23:00-08:00", at(2026, 10, 31, 23, 0, NEW_YORK), at(2026, 10, 31, 23, 0, NEW_YORK) + 10 * HOUR),
        # ... an end in the repeated hour is its first occurrence ...
        ("23:00-01:30", at(2026, 11, 1, 0, 45, NEW_YORK), at(2026, 11, 1, 1, 30, NEW_YORK, fold=0)),
        # ... unless the window is met again in the repeat: then the second.
        ("00:30-01:30", at(2026, 11, 1, 1, 10, NEW_YORK, fold=1), at(2026, 11, 1, 1, 30, NEW_YORK, fold=1)),
        # A window longer than the day's waking hours skipped by DST goes on to the next day.
        ("02:45-02:30", at(2026, 3, 7, 23, 0, NEW_YORK), at(2026, 3, 9, 2, 30, NEW_YORK)),
    ],
)
def test_quiet_ends(spec: str, now: int, ends: int) -> None:
    assert quiet_ends(spec, now, NEW_YORK) == ends
    assert not in_quiet(spec, ends, NEW_YORK)


def test_quiet_wall_clock_repeats_in_the_extra_hour() -> None:
    # 01:10 EST comes after the window 23:00-01:30 ended at 01:30 EDT: by the wall clock it is quiet again.
    assert in_quiet("23:00-01:30", at(2026, 11, 1, 1, 10, NEW_YORK, fold=1), NEW_YORK)


# --- properties --------------------------------------------------------------------------------

ZONES = ["UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Shanghai", "Europe/London", "+05:45", "-03:30"]
YEAR_2000, YEAR_2100 = at(2000, 1, 1), at(2099, 12, 31)
any_ms = st.one_of(st.integers(), st.integers(min_value=YEAR_2000, max_value=YEAR_2100))
any_progress = st.one_of(st.floats(), st.floats(min_value=0, max_value=100), st.integers(0, 100).map(float))


@PROPERTIES
@given(samples=st.lists(st.tuples(any_ms, any_progress), max_size=25), now=any_ms)
def test_eta_never_raises_and_is_never_now(samples: list[tuple[int, float]], now: int) -> None:
    end = eta(samples, now)
    assert end is None or end >= now + MINUTE


@PROPERTIES
@given(
    start=st.integers(min_value=YEAR_2000, max_value=at(2090, 1, 1)),
    first=st.floats(min_value=0, max_value=90),
    per_minute=st.floats(min_value=0.01, max_value=10),
    every=st.integers(min_value=1, max_value=120),
    count=st.integers(min_value=2, max_value=25),
    wait=st.integers(min_value=0, max_value=HOUR),
)
def test_eta_recovers_a_straight_line(
    start: int, first: float, per_minute: float, every: int, count: int, wait: int
) -> None:
    samples = [(start + i * every * MINUTE, first + per_minute * i * every) for i in range(count)]
    assume(samples[-1][1] < 100)
    now = samples[-1][0] + wait
    true_end = start + (100 - first) / per_minute * MINUTE
    end = eta(samples, now)
    assert end is not None
    assert abs(end - max(true_end, now + MINUTE)) <= MINUTE


@PROPERTIES
@given(values=st.lists(st.floats()), width=st.integers(min_value=-5, max_value=40))
def test_sparkline_shape(values: list[float], width: int) -> None:
    line = sparkline(values, width)
    assert len(line) == min(len(values), max(0, width), 12)
    assert set(line) <= set(BLOCKS)


@PROPERTIES
@given(history=st.lists(st.tuples(any_ms, st.floats(0, 100)), max_size=25), progress=st.floats(0, 100))
def test_add_sample_keeps_twenty_distinct_steps(history: list[tuple[int, float]], progress: float) -> None:
    result = add_sample(tuple(history), 1, progress)
    assert len(result) <= 20
    assert result[-1][1] == progress
    assert result[-1] == (1, progress) or (history and history[-1][1] == progress)


@PROPERTIES
@given(ms=st.integers(), name=st.sampled_from(ZONES))
def test_formatting_never_raises(ms: int, name: str) -> None:
    assert format_time(ms, zone(name)).endswith(")") or format_time(ms, zone(name)) == "unknown"
    format_clock(ms, zone(name), ms)
    format_eta(ms, ms, zone(name))


# The 2026 clock changes (zone, instant): an hour skipped or repeated, and Lord Howe's half hour.
DST_CHANGES = [
    ("America/New_York", 1772953200000),
    ("America/New_York", 1793512800000),
    ("Australia/Lord_Howe", 1775314800000),
    ("Australia/Lord_Howe", 1791041400000),
    ("Europe/London", 1774746000000),
    ("Europe/London", 1792890000000),
]
anywhen = st.tuples(st.sampled_from(ZONES), st.integers(min_value=YEAR_2000, max_value=YEAR_2100))
near_dst = st.sampled_from(DST_CHANGES).flatmap(
    lambda change: st.tuples(st.just(change[0]), st.integers(change[1] - 26 * HOUR, change[1] + 2 * HOUR))
)
# Any minute, or a half hour of the night, where clock changes put the edges of a window.
minute_of_day = st.one_of(st.integers(min_value=0, max_value=1439), st.integers(0, 8).map(lambda n: n * 30))


@PROPERTIES
@given(when=st.one_of(anywhen, near_dst), start=minute_of_day, end=minute_of_day)
def test_quiet_window_always_ends(when: tuple[str, int], start: int, end: int) -> None:
    assume(start != end)
    name, ms = when
    spec = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    tz = zone(name)
    ends = quiet_ends(spec, ms, tz)
    assert ends >= ms
    assert not in_quiet(spec, ends, tz)
    if not in_quiet(spec, ms, tz):
        assert ends == ms
        return
    assert in_quiet(spec, ends - 1, tz)  # the first instant after, not merely a later one
    for step in range(ms, ends, MINUTE):  # and quiet all the way there
        assert in_quiet(spec, step, tz)
    awake = (start - end) % 1440  # the minutes of a day outside the window
    if awake > 60:  # else a DST jump can skip all of them, and the window runs on to the next day
        assert ends - ms <= 25 * HOUR


finite = st.floats(allow_nan=False, allow_infinity=False)


@PROPERTIES
@given(
    pairs=st.lists(st.tuples(st.sampled_from(["recall", "loss", "auc", "mae"]), finite, finite), max_size=6),
    listed=st.sampled_from([(), ("auc",), ("RECALL", "mae")]),
)
def test_a_better_metric_is_never_worse(pairs: list[tuple[str, float, float]], listed: tuple[str, ...]) -> None:
    now = [(name, repr(value)) for name, value, _ in pairs]
    before = [(name, repr(previous)) for name, _, previous in pairs]
    forward = {d.name: d for d in compare_metrics(now, before, listed)}
    backward = {d.name: d for d in compare_metrics(before, now, listed)}
    assert forward.keys() == backward.keys()
    for name, delta in forward.items():
        lower = lower_is_better(name, listed)
        better = delta.value < delta.previous if lower else delta.value > delta.previous
        if better or delta.value == delta.previous:
            assert not delta.worse and delta.worse_pct == 0
        else:
            assert delta.worse and delta.worse_pct > 0 and backward[name].worse is False
        assert not (delta.worse and backward[name].worse)
        assert regressions([delta], 0) == []
