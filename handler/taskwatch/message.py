"""Rendering a tick's changes as one DingTalk markdown digest (pure: no I/O, no clock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from .model import TERMINAL, Change, ChangeKind

MAX_BYTES = 20_000
BAR_WIDTH = 10
# One task's block stays a few KB, so one huge task never pushes every other task out of a digest.
MAX_ERRORS = 10
MAX_METRICS = 20
MAX_LINE_BYTES = 1_500

ICONS = {
    "success": "✅",
    "failed": "❌",
    "running": "🏃",
}
HEADLINES = {
    ChangeKind.WATCHING: "now watching",
    ChangeKind.NEW_RUN: "new run",
    ChangeKind.PROGRESS: "progress",
    ChangeKind.STALLED: "stalled",
    ChangeKind.MOVING: "moving again",
    ChangeKind.NOT_FOUND: "not found",
    ChangeKind.ERROR: "cannot read",
    ChangeKind.RECOVERED: "recovered",
}


@dataclass(frozen=True)
class Message:
    title: str
    text: str
    at_mobiles: tuple[str, ...]


def progress_bar(progress: float) -> str:
    filled = round(max(0.0, min(100.0, progress)) / 100 * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled) + f" {progress:g}%"


def format_time(ms: int) -> str:
    if ms <= 0:
        return "unknown"
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, ValueError, OSError):
        return "unknown"


def format_duration(ms: int) -> str:
    seconds = max(0, ms // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s" if seconds else f"{minutes}m"
    return f"{seconds}s"


def headline(change: Change) -> str:
    if change.kind == ChangeKind.STATUS:
        icon = ICONS.get(change.new_status or "", "🔄")
        # A run first seen already finished has no old status: "new → **failed**", one word as usual.
        return f"{icon} {change.old_status or 'new'} → **{change.new_status}**"
    icon = {"stalled": "⏸️", "cannot read": "⚠️", "not found": "❓", "recovered": "🔁"}.get(
        HEADLINES[change.kind], ICONS.get(change.new_status or "", "🔔")
    )
    text = f"{icon} {HEADLINES[change.kind]}"
    if change.kind in (ChangeKind.WATCHING, ChangeKind.NEW_RUN) and change.new_status:
        text += f": **{change.new_status}**"
    if change.kind == ChangeKind.PROGRESS:
        text += f": passed **{change.detail}%**"
    return text


def render_group(changes: list[Change]) -> str:
    """One block per target and generation: a headline per change, then the task's facts once."""
    last = changes[-1]
    generation = f" · gen {last.generation}" if last.generation else ""
    lines = [f"**{last.target}**{generation}"]
    for change in changes:
        lines.append(f"- {headline(change)}")
        if change.detail and change.kind in (
            ChangeKind.NOT_FOUND,
            ChangeKind.ERROR,
            ChangeKind.STALLED,
            ChangeKind.RECOVERED,
        ):
            lines.append(f"- {change.detail}")
    if all(c.new_status is None for c in changes):
        # No task behind these (not found, cannot read, recovered while still not found): no facts.
        return "\n".join(lines)
    lines.append(f"- progress: {progress_bar(last.progress)}")
    finished = last.new_status in TERMINAL
    if last.start_time or finished:
        timing = f"- started {format_time(last.start_time)}"
        if finished or last.end_time:
            timing += f", ended {format_time(last.end_time)}"
            if last.start_time and last.end_time >= last.start_time:
                timing += f", took {format_duration(last.end_time - last.start_time)}"
        lines.append(timing)
    if last.metrics:
        lines.append(_capped("- metrics: ", [f"{k}={v}" for k, v in last.metrics], ", ", MAX_METRICS))
    if last.errors:
        lines.append(_capped("- errors: ", list(last.errors), "; ", MAX_ERRORS))
    return "\n".join(lines)


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


def render(
    changes: list[Change],
    *,
    at_mobiles: tuple[str, ...] = (),
    keyword: str | None = None,
    max_bytes: int = MAX_BYTES,
    measure: Callable[[Message], int] | None = None,
) -> Message:
    """One digest for all changes whose whole request body (``measure``) stays within ``max_bytes``.

    The body counts everything that is sent: title, blocks, the mention line and the mentions list,
    the keyword and the JSON escaping. Blocks that do not fit become one "+N more" line.
    """
    size = measure or dingtalk_body_size
    urgent = any(c.urgent for c in changes)
    failed = sum(1 for c in changes if c.kind == ChangeKind.STATUS and c.new_status == "failed")
    title = f"taskwatch: {len(changes)} change{'s' if len(changes) != 1 else ''}"
    if failed:
        title += f", {failed} failed"
    mentions = at_mobiles if urgent else ()

    def assemble(blocks: list[str]) -> Message:
        parts = [f"#### {title}", *blocks]
        if mentions:
            # DingTalk pings a mobile only if "@mobile" also appears in the text.
            parts.append(" ".join(f"@{mobile}" for mobile in mentions))
        text = "\n\n".join(parts)
        if keyword and keyword not in text:
            text += f"\n\n{keyword}"
        return Message(title=title, text=text, at_mobiles=mentions)

    blocks: list[str] = []
    shown = 0
    for changes_of_task in group(changes):
        block = _safe_block(changes_of_task)
        left = len(changes) - shown - len(changes_of_task)
        trial = [*blocks, block, *([_more(left)] if left else [])]
        if size(assemble(trial)) > max_bytes:
            blocks.append(_more(len(changes) - shown))
            break
        blocks.append(block)
        shown += len(changes_of_task)
    return assemble(blocks)


def _more(count: int) -> str:
    return f"… +{count} more (see GET /status or `taskwatch status`)"


def _safe_block(changes: list[Change]) -> str:
    """A task's block; if its data cannot be shown, a line that says so (the others still go out)."""
    try:
        return render_group(changes)
    except Exception as err:
        kinds = ", ".join(sorted({c.kind.value for c in changes}))
        return f"**{changes[-1].target}**\n- {kinds} (details cannot be shown: {type(err).__name__})"


def dingtalk_body_size(message: Message) -> int:
    """Bytes of the JSON body the DingTalk notifier sends for ``message``."""
    from .dingtalk import body

    return len(body(message))
