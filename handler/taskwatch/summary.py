"""The summary's content, pure: every target's status, progress and ETA, and the runs of the last
24 h, as the title and blocks one channel's message is composed of (``Notifier.compose`` fits them
within the channel's limits). ``summary_run`` sends it.

Made from the stored state alone (what the last tick saw), so a summary asks OpenSearch nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from .digest import format_time, progress_bar
from .insight import eta, format_clock, format_duration, format_eta, sparkline, zone
from .kinds import DEFAULT_STATUS_ICON, STATUS_ICONS
from .model import RUNNING, TERMINAL
from .setting_values import Route, Target
from .state import State, TargetState

DAY_MS = 24 * 3_600_000
MAX_RUN_LINES = 10  # the last 24 h's runs shown one by one (failed first); the others are counted
MAX_CAUSE = 160  # characters of an unreadable target's cause: the line stays one line
# How a target's state reads in the counts, in this order; other statuses follow by name.
ORDER = ("running", "succeeded", "failed", "cannot be read", "not found", "not read yet")


# --- which targets, for which channel ---------------------------------------------------------


def watched_keys(targets: Sequence[Target], state: State | None) -> list[str]:
    """Every target a status lists: the named ones, then each wildcard's listed instances, once each."""
    keys = [t.key for t in targets if not t.is_wildcard]
    listings = state.discovered if state else {}
    for target in targets:
        if target.is_wildcard and target.key in listings:
            keys.extend(f"{target.app_group}/{name}@latest" for name in listings[target.key].instances)
    return list(dict.fromkeys(keys))


def routed(keys: Sequence[str], routes: Sequence[Route], channels: Sequence[str]) -> dict[str, list[str]]:
    """Each channel's targets: where their changes go, whatever their kinds (a target no
    ``[[watch]]`` covers, or every target without watches, goes to every channel)."""
    # Route.covers walks a watch's targets: a set of its named keys answers most keys at once
    # (1,000 keys against a watch of 1,000 targets: 1 ms instead of 250), covers() the wildcards.
    named = [{t.key for t in r.targets if not t.is_wildcard} for r in routes]
    wild = [any(t.is_wildcard for t in r.targets) for r in routes]
    shown: dict[str, list[str]] = {name: [] for name in channels}
    for key in keys:
        covering = [r for r, n, w in zip(routes, named, wild, strict=True) if key in n or (w and r.covers(key))]
        for name in channels:
            if not covering or any(r.channels is None or name in r.channels for r in covering):
                shown[name].append(key)
    return shown


# --- rendering (pure) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A run of the last 24 h: one of a target's finished runs, or its current one."""

    target: str
    generation: str
    status: str
    start: int
    end: int


def recent_runs(key: str, entry: TargetState, now: int) -> list[Run]:
    """The target's runs that started, or finished, in the 24 h before ``now``."""
    since = now - DAY_MS
    runs = {r.generation: Run(key, r.generation, r.status, r.start_time, r.end_time) for r in entry.runs}
    if entry.generation and entry.generation not in runs:
        runs[entry.generation] = Run(key, entry.generation, entry.status or "unknown", entry.start_time, entry.end_time)
    return [r for r in runs.values() if since <= r.start <= now or (r.status in TERMINAL and since <= r.end <= now)]


def _took(start: int, end: int) -> str | None:
    return format_duration(end - start) if start and end >= start else None


def run_line(run: Run, now: int, tz: tzinfo) -> str:
    """``- ❌ app/fn/inst@latest · gen 17: failed after 1h 02m, ended 08:12``."""
    head = f"- {STATUS_ICONS.get(run.status, DEFAULT_STATUS_ICON)} {run.target} · gen {run.generation}: "
    took = _took(run.start, run.end)
    if run.status in TERMINAL and run.end:
        verb = "succeeded in" if run.status == "success" else "failed after"
        done = f"{verb} {took}" if took else verb.split()[0]
        return head + f"{done}, ended {format_clock(run.end, tz, now)}"
    text = f"started {format_clock(run.start, tz, now)}"
    if run.status == RUNNING and run.start:
        return head + f"{text}, running for {format_duration(now - run.start)}"
    return head + f"{text}, {run.status}"


def state_of(entry: TargetState | None) -> str:
    """How a target's state reads in the counts."""
    if entry is None:
        return "not read yet"
    if entry.error_alerted:
        return "cannot be read"
    if entry.not_found:
        return "not found"
    return "succeeded" if entry.status == "success" else entry.status or "unknown"


def rank(entry: TargetState | None) -> int:
    """Failed and unreadable targets first, then stalled and not found, running, the rest, done."""
    shown = state_of(entry)
    if shown in ("failed", "cannot be read"):
        return 0
    if shown == "not found" or (entry is not None and entry.stalled):
        return 1
    return {"running": 2, "succeeded": 4}.get(shown, 3)


def target_line(key: str, entry: TargetState | None, now: int, tz: tzinfo) -> str:
    """One compact line: status, progress (a bar and the trend while running), the ETA or the end."""
    if entry is None:
        return f"- ⏳ **{key}** not read yet"
    if entry.error_alerted:
        cause = (entry.last_error or "unknown cause")[:MAX_CAUSE]
        seen = f" · last seen {entry.status} {entry.progress:g}%" if entry.status else ""
        return f"- ⚠️ **{key}** cannot be read ({entry.error_count} reads in a row): {cause}{seen}"
    if entry.not_found:
        return f"- ❓ **{key}** not found"
    status = entry.status or "unknown"
    mark = "⏸️" if entry.stalled and status == RUNNING else STATUS_ICONS.get(status, DEFAULT_STATUS_ICON)
    parts = [f"- {mark} **{key}** {status}"]
    if status == RUNNING:
        trend = sparkline([p for _, p in entry.history]) if len(entry.history) > 1 else ""
        parts.append(progress_bar(entry.progress) + (f" {trend}" if trend else ""))
        end = eta(entry.history, now)
        if entry.stalled:
            parts.append("stalled")
        elif end is not None:
            parts.append(format_eta(end, now, tz))
        elif entry.start_time:
            parts.append(f"running for {format_duration(now - entry.start_time)}")
    elif status in TERMINAL:
        took = _took(entry.start_time, entry.end_time)
        parts += [f"took {took}"] if took else []
        parts += [f"ended {format_clock(entry.end_time, tz, now)}"] if entry.end_time else []
    else:
        parts.append(f"{entry.progress:g}%")
    return " · ".join(parts)


def render(keys: Sequence[str], entries: Mapping[str, TargetState], now: int, zone_name: str) -> tuple[str, list[str]]:
    """The title and the blocks of one summary: the counts and the last 24 h in the first block,
    then one line per target, failed and unreadable first (``Notifier.compose`` fits them)."""
    tz = zone(zone_name)
    rows = sorted(((key, entries.get(key)) for key in keys), key=lambda row: rank(row[1]))
    states = Counter(state_of(entry) for _, entry in rows)
    plural = "" if len(rows) == 1 else "s"
    title = f"taskwatch summary: {len(rows)} target{plural}, {states['running']} running, {states['failed']} failed"
    named = [s for s in ORDER if states[s]] + sorted(set(states) - set(ORDER))
    runs = [run for key, entry in rows if entry is not None for run in recent_runs(key, entry, now)]
    since = now - DAY_MS
    started = sum(1 for r in runs if since <= r.start <= now)
    ended = Counter(r.status for r in runs if r.status in TERMINAL and since <= r.end <= now)
    # Failed runs first, then the newest: what went wrong overnight is the first question.
    runs.sort(key=lambda r: (r.status != "failed", -max(r.start, r.end)))
    lines = [
        f"as of {format_time(now, zone_name)}",
        "",
        "**Now**: " + (" · ".join(f"{states[s]} {s}" for s in named) or "no targets"),
        "",
        f"**Last 24 h**: {started} started · {ended['success']} succeeded · {ended['failed']} failed",
        *(run_line(run, now, tz) for run in runs[:MAX_RUN_LINES]),
        *([f"- … +{len(runs) - MAX_RUN_LINES} more runs"] if len(runs) > MAX_RUN_LINES else []),
    ]
    if rows:
        lines += ["", "**Targets**"]
    return title, ["\n".join(lines), *(target_line(key, entry, now, tz) for key, entry in rows)]
