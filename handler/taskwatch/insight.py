"""The figures a message adds beyond the run itself: times in the team's zone, a running task's ETA
and trend, a finished run against earlier runs, quiet hours. Pure: no I/O, no clock reads (the caller
passes "now"), so every figure is reproducible in tests."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from .setting_values import HHMM

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MS = timedelta(milliseconds=1)
MINUTE_MS = 60_000
MAX_SAMPLES = 20  # the state keeps at most this many; older ones describe a pace long gone
MAX_MS = 2**53  # what JSON readers everywhere keep exactly; beyond it a time is garbage
MAX_PROGRESS = 1e6  # far outside 0-100, yet small enough that no sum in the fit overflows
BLOCKS = "▁▂▃▄▅▆▇█"
MAX_SPARK = 12
MINUS = "\u2212"  # the real minus sign: a hyphen reads as a dash next to a number
LOWER_IS_BETTER_WORDS = ("loss", "error", "rmse", "mae", "latency")
OFFSET_RE = re.compile(r"([+-])" + HHMM)
WINDOW_RE = re.compile(HHMM + "-" + HHMM)  # the same form check_quiet_hours accepts
History = tuple[tuple[int, float], ...]  # (ms, progress) samples, oldest first
Pairs = Sequence[tuple[str, str]]  # a run's metrics as (name, text)


@functools.lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The zone a setting names: UTC, a fixed offset ±HH:MM or an IANA name. Cached: a message
    formats many times. zoneinfo is imported only for an IANA name: a UTC cold start skips it."""
    if name == "UTC":
        return timezone.utc
    if offset := OFFSET_RE.fullmatch(name):
        sign = -1 if offset.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"{name!r} is not a time zone: an IANA name like Asia/Shanghai, or +08:00") from None


def _local(ms: int, tz: tzinfo) -> datetime | None:
    """``ms`` on the zone's wall clock (None beyond datetime), exact: no float seconds to round."""
    try:
        return (EPOCH + timedelta(milliseconds=ms)).astimezone(tz)
    except (OverflowError, ValueError):
        return None


def _shown(ms: int, tz: tzinfo) -> datetime | None:
    """A time worth showing: 0 means "not set", and years outside 2000-2100 are a wrong unit."""
    local = _local(ms, tz) if ms > 0 else None
    return local if local is not None and 2000 <= local.year <= 2100 else None


def format_time(ms: int, tz: tzinfo) -> str:
    """``2026-11-28 09:30 (+08:00)``: the offset always shown, so a reader elsewhere can convert."""
    if (local := _shown(ms, tz)) is None:
        return "unknown"
    minutes = int((local.utcoffset() or timedelta(0)).total_seconds()) // 60
    hours, rest = divmod(abs(minutes), 60)
    return local.strftime("%Y-%m-%d %H:%M ") + f"({'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d})"


def format_clock(ms: int, tz: tzinfo, ref_ms: int) -> str:
    """``10:42``, or ``11-29 10:42`` when that is not the same local day as ``ref_ms`` (usually now)."""
    if (local := _shown(ms, tz)) is None:
        return "unknown"
    ref = _local(ref_ms, tz)
    return local.strftime("%H:%M" if ref is not None and ref.date() == local.date() else "%m-%d %H:%M")


def format_duration(ms: int) -> str:
    """``1h 05m``, ``35m``, ``2m 10s``, ``40s``: how long, as a digest shows it."""
    seconds = max(0, ms // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s" if seconds else f"{minutes}m"
    return f"{seconds}s"


def eta(samples: Sequence[tuple[int, float]], now_ms: int) -> int | None:
    """When progress reaches 100, by a least-squares line through the newest samples (ms, progress),
    oldest first. A fit rather than the last two samples, so one slow or quick step does not swing
    the estimate. None without a rising trend, when already done, or for data no fit can trust;
    never earlier than a minute from now, since a running task is not done yet."""
    used = list(samples[-MAX_SAMPLES:])
    if len(used) < 2 or used[-1][1] >= 100 or len({p for _, p in used}) < 2:
        return None
    if not all(abs(ms) <= MAX_MS and math.isfinite(p) and abs(p) <= MAX_PROGRESS for ms, p in used):
        return None
    # Times relative to the oldest sample: epoch milliseconds squared would lose the minutes.
    first = used[0][0]
    xs = [float(ms - first) for ms, _ in used]
    ys = [float(p) for _, p in used]
    mean_x, mean_y = math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)
    sxx = math.fsum((x - mean_x) * (x - mean_x) for x in xs)
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    if not sxx > 0:
        return None  # every sample at one instant: no pace to speak of
    slope = sxy / sxx
    if not (math.isfinite(slope) and slope > 0):
        return None
    end = first + mean_x + (100 - mean_y) / slope
    if not (math.isfinite(end) and abs(end) <= MAX_MS):
        return None  # a crawl that would end in centuries is no estimate
    return max(round(end), now_ms + MINUTE_MS)


def format_eta(end_ms: int, now_ms: int, tz: tzinfo) -> str:
    """``~35m left, ≈ 10:42``. Minutes round up: "0m left" would read as done."""
    minutes = max(1, -(-(end_ms - now_ms) // MINUTE_MS))
    text = f"~{format_duration(minutes * MINUTE_MS)} left"
    clock = format_clock(end_ms, tz, now_ms)
    return text if clock == "unknown" else f"{text}, ≈ {clock}"


def sparkline(values: Sequence[float], width: int = MAX_SPARK) -> str:
    """The newest ``width`` (at most 12) values on the absolute 0-100 scale, so a flat line means no
    progress rather than being stretched to fill the height."""
    count = max(0, min(width, MAX_SPARK))
    levels = (0.0 if math.isnan(v) else min(100.0, max(0.0, v)) for v in values[max(0, len(values) - count) :])
    return "".join(BLOCKS[int(level * 7 / 100 + 0.5)] for level in levels)


def add_sample(history: History, now_ms: int, progress: float, limit: int = MAX_SAMPLES) -> History:
    """``history`` with (now_ms, progress) appended, the oldest dropped beyond ``limit``.

    A sample equal in progress to the last one is not appended: a flat stretch is kept as its
    first sample and the next differing one, so the slope across it is the true average pace, and
    a long stall does not push the earlier pace out of the window. A non-finite progress is not
    kept either: it cannot be stored as JSON nor fitted."""
    if limit <= 0:
        return ()
    if not math.isfinite(progress) or (history and history[-1][1] == progress):
        return history[-limit:]
    return (*history, (now_ms, progress))[-limit:]


def duration_line(took_ms: int, last_ms: int | None) -> str:
    """``took 32m, last run 28m, +14%``: whether this run was slow is the first question on a finish."""
    text = f"took {format_duration(took_ms)}"
    if last_ms is None or last_ms < 0:
        return text
    text += f", last run {format_duration(last_ms)}"
    if last_ms == 0:
        return text  # no percentage of nothing
    # Whole integers, rounded half away from zero: exact for any size, where floats would overflow.
    diff = took_ms - last_ms
    pct = (200 * abs(diff) + last_ms) // (2 * last_ms)
    return f"{text}, " + ("±0%" if pct == 0 else f"{'+' if diff > 0 else MINUS}{pct}%")


def lower_is_better(name: str, listed: tuple[str, ...]) -> bool:
    """A list from the config decides alone (a name like "error_recall" may mean the opposite);
    without one, the usual words for costs do."""
    folded = name.casefold()
    return folded in {n.casefold() for n in listed} if listed else any(w in folded for w in LOWER_IS_BETTER_WORDS)


@dataclass(frozen=True)
class MetricDelta:
    """One metric against the previous successful run."""

    name: str
    value: float
    previous: float
    pct: float | None  # change in % of the previous value; None when that was 0
    worse: bool
    worse_pct: float  # how much worse in % (inf when it worsened from 0); 0 when better or equal


def _number(text: str) -> float | None:
    """A metric that reads as a finite number; "nan", "inf" and labels compare with nothing."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def compare_metrics(metrics: Pairs, previous: Pairs, listed: tuple[str, ...]) -> list[MetricDelta]:
    """Each metric numeric in both runs, in the order of ``metrics``; of a repeated name, the first."""
    # Built reversed, so the first of a repeated name is the one that stays.
    before = {name: number for name, text in reversed(previous) if (number := _number(text)) is not None}
    deltas: list[MetricDelta] = []
    seen: set[str] = set()
    for name, text in metrics:
        value = _number(text)
        if value is None or name not in before or name in seen:
            continue
        seen.add(name)
        old = before[name]
        # Relative to |previous|, so the sign says up or down even for a negative metric.
        pct = (value - old) / abs(old) * 100 if old else None
        worse = value > old if lower_is_better(name, listed) else value < old
        worse_pct = (math.inf if pct is None else abs(pct)) if worse else 0.0
        deltas.append(MetricDelta(name, value, old, pct, worse, worse_pct))
    return deltas


def metric_line(delta: MetricDelta) -> str:
    """``recall 91 (93, -2.2%)`` (a real minus sign): the value, the previous one, the change."""
    head = f"{delta.name} {delta.value:g} ({delta.previous:g}"
    if delta.pct is None:
        return head + ")"
    shown = f"{abs(delta.pct):.1f}"
    sign = "±" if float(shown) == 0 else "+" if delta.pct > 0 else MINUS
    return f"{head}, {sign}{shown}%)"


def regressions(deltas: Sequence[MetricDelta], threshold_pct: float) -> list[MetricDelta]:
    """The metrics worse by more than ``threshold_pct``; a threshold of 0 turns the check off."""
    return [d for d in deltas if d.worse and d.worse_pct > threshold_pct] if threshold_pct > 0 else []


def quiet_window(spec: str) -> tuple[int, int] | None:
    """``23:00-08:00`` as minutes after midnight (1380, 480); None for "" (no quiet hours)."""
    if not spec:
        return None
    if not (match := WINDOW_RE.fullmatch(spec)):
        raise ValueError(f"{spec!r} is not a window like 23:00-08:00")
    start, end = (int(match.group(i)) * 60 + int(match.group(i + 1)) for i in (1, 3))
    if start == end:
        raise ValueError(f"{spec!r} starts and ends at the same minute")
    return start, end


def _holds(window: tuple[int, int], local: datetime) -> bool:
    start, end = window
    minute = local.hour * 60 + local.minute
    return start <= minute < end if start < end else minute >= start or minute < end


def in_quiet(spec: str, ms: int, tz: tzinfo) -> bool:
    """Whether the zone's wall clock at ``ms`` is in the window: the team sleeps by the wall clock,
    DST included. Start inclusive, end exclusive; a window may cross midnight."""
    window, local = quiet_window(spec), _local(ms, tz)
    return window is not None and local is not None and _holds(window, local)


def _utc_ms(wall: datetime, tz: tzinfo, fold: int) -> int:
    return (wall.replace(tzinfo=tz, fold=fold) - EPOCH) // ONE_MS


def _wall(ms: int, tz: tzinfo) -> datetime | None:
    return None if (local := _local(ms, tz)) is None else local.replace(tzinfo=None)


def _next_end(window: tuple[int, int], local: datetime, ms: int, tz: tzinfo) -> int:
    """The first instant after ``ms`` (in the window, on the wall clock ``local``) at which the wall
    clock reaches the window's end, on the day the window ends."""
    start, end = window
    day = local.date()
    if start > end and local.hour * 60 + local.minute >= start:
        day += timedelta(days=1)  # crossing midnight: it ends tomorrow
    wall = datetime(day.year, day.month, day.day, end // 60, end % 60)
    # An hour repeated by DST has the end twice: the first occurrence after ms ends the window.
    occurs = sorted({u for u in (_utc_ms(wall, tz, 0), _utc_ms(wall, tz, 1)) if _wall(u, tz) == wall})
    if occurs:  # (none after ms cannot happen on a sane zone; the caller checks again anyway)
        return next((u for u in occurs if u > ms), ms + MINUTE_MS)
    # The end falls in an hour skipped by DST: the window ends when the clock jumps past it,
    # found by bisection between the two readings of the skipped time.
    low, high = sorted((_utc_ms(wall, tz, 0), _utc_ms(wall, tz, 1)))
    low, high = max(low, ms), max(high, ms + 1)
    while high - low > 1:
        middle = (low + high) // 2
        if (seen := _wall(middle, tz)) is not None and seen >= wall:
            high = middle
        else:
            low = middle
    return high


def quiet_ends(spec: str, ms: int, tz: tzinfo) -> int:
    """The first instant at or after ``ms`` outside the window (``ms`` itself when not in it)."""
    window = quiet_window(spec)
    for _ in range(4):
        local = _local(ms, tz)
        if window is None or local is None or not _holds(window, local):
            return ms
        try:
            ms = _next_end(window, local, ms, tz)
        except (OverflowError, ValueError):
            return ms  # beyond datetime's years (9999): no later end can be named
        # A DST jump can land past the end yet back inside a long window: look again from there.
    return ms
