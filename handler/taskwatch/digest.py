"""Rendering a tick's changes as one markdown digest (pure: no I/O, no clock).

Generic: a channel's limits, how it makes mentions ping and its keyword come in a DigestStyle
from the channel's notifier module; what each kind of change says comes from ``kinds.KINDS``.
``fit`` fits any title and blocks within those limits the same way (the summary's, too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Protocol

from . import insight
from .kinds import KINDS, icon
from .model import NO_INSIGHT, TERMINAL, Change, ChangeKind, Insight

BAR_WIDTH = 10
# One task's block stays a few KB, so one huge task never pushes every other task out of a digest.
MAX_ERRORS = 10
MAX_METRICS = 20
MAX_LINE_BYTES = 1_500


@dataclass(frozen=True)
class Message:
    """One digest as rendered for a channel; its notifier turns it into the platform's body."""

    title: str
    text: str  # markdown: a "#### title" line, one block per task, the mention text, the keyword
    at_mobiles: tuple[str, ...]  # who the platform is asked to ping (ids in the platform's form)
    changes: tuple[Change, ...] = ()  # every change the digest stands for, shown or counted in "+N more"
    urgent: bool = False  # one of the changes is urgent (a failure, a stall, an error)
    failed: int = 0  # how many runs failed


def _no_mention_text(mentions: tuple[str, ...]) -> str:
    return ""


@dataclass(frozen=True)
class DigestStyle:
    """What a channel allows: the size of its whole request body, and how mentions ping there."""

    measure: Callable[[Message], int]  # bytes of the request body the channel sends for a message
    max_bytes: int | None = None  # None: no budget
    mentions: tuple[str, ...] = ()  # pinged on urgent digests
    mention_text: Callable[[tuple[str, ...]], str] = _no_mention_text  # text that makes them ping
    keyword: str | None = None  # a word every message must contain
    zone: str = "UTC"  # how times are shown: "UTC", an IANA name or ±HH:MM


def with_mentions(style: DigestStyle, extra: tuple[str, ...]) -> DigestStyle:
    """The style with ``extra`` ids (a watch's owners) pinged too, each once, the channel's first."""
    merged = tuple(dict.fromkeys((*style.mentions, *extra)))
    return style if merged == style.mentions else replace(style, mentions=merged)


def progress_bar(progress: float) -> str:
    filled = round(max(0.0, min(100.0, progress)) / 100 * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled) + f" {progress:g}%"


def format_time(ms: int, zone: str = "UTC") -> str:
    """``2026-11-28 09:30 UTC``, or in another zone with its offset: ``2026-11-28 17:30 (+08:00)``."""
    if zone != "UTC":
        shown: str = insight.format_time(ms, insight.zone(zone))
        return shown
    if ms <= 0:
        return "unknown"
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, ValueError, OSError):
        return "unknown"


def headline(change: Change) -> str:
    info = KINDS[change.kind]
    mark = icon(change.kind, change.new_status)
    if change.kind == ChangeKind.STATUS:
        # A run first seen already finished has no old status: "new → **failed**", one word as usual.
        return f"{mark} {change.old_status or 'new'} → **{change.new_status}**"
    text = f"{mark} {info.headline}"
    if info.shows_status and change.new_status:
        text += f": **{change.new_status}**"
    if change.kind == ChangeKind.PROGRESS:
        text += f": passed **{change.detail}%**"
    return text


def render_group(changes: list[Change], zone: str = "UTC") -> str:
    """One block per target and generation: a headline per change, then the task's facts once,
    with what the team would otherwise look up (ETA and trend, the comparison with earlier runs)."""
    last = changes[-1]
    generation = f" · gen {last.generation}" if last.generation else ""
    lines = [f"**{last.target}**{generation}"]
    for change in changes:
        lines.append(f"- {headline(change)}")
        if change.detail and KINDS[change.kind].shows_detail:
            lines.append(f"- {change.detail}")
    if all(c.new_status is None for c in changes):
        # No task behind these (not found, cannot read, recovered while still not found): no facts.
        return "\n".join(lines)
    seen = next((c.insight for c in reversed(changes) if c.insight != NO_INSIGHT), NO_INSIGHT)
    trend = insight.sparkline(seen.trend) if len(seen.trend) > 1 else ""
    lines.append(f"- progress: {progress_bar(last.progress)}" + (f" {trend}" if trend else ""))
    finished = last.new_status in TERMINAL
    if seen.eta_ms and not finished:
        lines.append(f"- ETA: {insight.format_eta(seen.eta_ms, seen.at_ms, insight.zone(zone))}")
    if last.start_time or finished:
        timing = f"- started {format_time(last.start_time, zone)}"
        if finished or last.end_time:
            timing += f", ended {format_time(last.end_time, zone)}"
            if last.start_time and last.end_time >= last.start_time:
                took = last.end_time - last.start_time
                timing += ", " + insight.duration_line(took, seen.last_duration_ms or None)
        lines.append(timing)
    if last.metrics:
        lines.append(_capped("- metrics: ", _metric_items(last, seen), ", ", MAX_METRICS))
    if last.errors:
        lines.append(_capped("- errors: ", list(last.errors), "; ", MAX_ERRORS))
    return "\n".join(lines)


def _metric_items(last: Change, seen: Insight) -> list[str]:
    """Each metric, against the previous successful run's where both are numbers."""
    deltas = {d.name: d for d in insight.compare_metrics(last.metrics, seen.previous_metrics, ())}
    return [insight.metric_line(deltas[k]) if k in deltas else f"{k}={v}" for k, v in last.metrics]


def _capped(prefix: str, items: list[str], separator: str, limit: int) -> str:
    """``prefix`` + the first ``limit`` items, cut to MAX_LINE_BYTES, with "+N more" for the rest."""
    line = prefix + separator.join(items[:limit])
    more = len(items) - limit
    suffix = f" (+{more} more)" if more > 0 else ""
    if len(line.encode()) + len(suffix.encode()) > MAX_LINE_BYTES:
        room = MAX_LINE_BYTES - len(suffix.encode()) - len("…".encode())
        line = line.encode()[:room].decode(errors="ignore") + "…"
    return line + suffix


def group(changes: list[Change]) -> list[list[Change]]:
    groups: dict[tuple[str, str | None], list[Change]] = {}
    for change in changes:
        groups.setdefault((change.target, change.generation), []).append(change)
    return list(groups.values())


def render(changes: list[Change], style: DigestStyle) -> Message:
    """One digest for all changes whose whole request body stays within the style's budget.

    The body counts everything that is sent: title, blocks, the mention text and the mentions list,
    the keyword and the escaping. Blocks that do not fit become one "+N more" line.
    """
    urgent = any(c.urgent for c in changes)
    failed = sum(1 for c in changes if c.kind == ChangeKind.STATUS and c.new_status == "failed")
    title = f"taskwatch: {len(changes)} change{'s' if len(changes) != 1 else ''}"
    if failed:
        title += f", {failed} failed"
    mentions = style.mentions if urgent else ()
    groups = group(changes)
    counted = [0]  # changes in the first k groups, by k: the "+N more" line counts changes, not blocks
    for g in groups:
        counted.append(counted[-1] + len(g))
    return fit(
        title,
        _Rendered(groups, style.zone),
        style,
        lambda shown: _more(len(changes) - counted[shown]),
        tail=style.mention_text(mentions) if mentions else "",
        base=Message(title=title, text="", at_mobiles=mentions, changes=tuple(changes), urgent=urgent, failed=failed),
    )


class _Rendered:
    """Each group's block, rendered when the search first reaches it: most of 5,000 are never shown."""

    def __init__(self, groups: list[list[Change]], zone: str) -> None:
        self._groups = groups
        self._zone = zone
        self._done: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def __getitem__(self, index: int) -> str:
        if index not in self._done:
            self._done[index] = _safe_block(self._groups[index], self._zone)
        return self._done[index]


class Blocks(Protocol):
    """What ``fit`` reads of its blocks: how many, and each by its index (a list will do)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> str: ...


def fit(
    title: str,
    blocks: Blocks,
    style: DigestStyle,
    more_line: Callable[[int], str] | None = None,
    *,
    separator: str = "\n\n",
    tail: str = "",
    base: Message | None = None,
) -> Message:
    """``title`` and as many of ``blocks``, in order, as keep the whole request body within the
    style's budget, then ``more_line(k)`` (k: the blocks shown) for the ones left out; by default
    "… +N more" with N the blocks left out.

    ``separator`` joins the blocks (a paragraph each by default); ``tail`` (the mention text) always
    ends the text, then the style's keyword if the text lacks it. ``base`` gives the message's
    other fields (mentions, changes); without it the message pings nobody.
    """
    message = base or Message(title=title, text="", at_mobiles=())
    count = len(blocks)
    shown: list[str] = []

    def first(k: int) -> Message:
        shown.extend(blocks[i] for i in range(len(shown), k))
        more = "" if k >= count else more_line(k) if more_line else _more(count - k)
        body = separator.join([*shown[:k], *([more] if more else [])])
        text = "\n\n".join([f"#### {title}", *([body] if body else []), *([tail] if tail else [])])
        if style.keyword and style.keyword not in text:
            text += f"\n\n{style.keyword}"
        return replace(message, title=title, text=text)

    def fits(k: int) -> bool:
        return style.max_bytes is None or style.measure(first(k)) <= style.max_bytes

    # The body grows with every block shown. Doubling, then halving, finds the most blocks that fit
    # with a few measures of bodies at most twice the budget, where one measure per block (each
    # encodes and scrubs the whole body) took a third of a second for a digest of short blocks.
    good, bad = 0, 1
    while bad < count and fits(bad):
        good, bad = bad, bad * 2
    if bad >= count:
        if fits(count):
            return first(count)
        bad = count
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if fits(middle) else (good, middle)
    return first(good)


def _more(count: int) -> str:
    return f"… +{count} more (see GET /status or `taskwatch status`)"


def _safe_block(changes: list[Change], zone: str) -> str:
    """A task's block; if its data cannot be shown, a line that says so (the others still go out)."""
    try:
        return render_group(changes, zone)
    except Exception as err:
        kinds = ", ".join(sorted({c.kind.value for c in changes}))
        return f"**{changes[-1].target}**\n- {kinds} (details cannot be shown: {type(err).__name__})"
