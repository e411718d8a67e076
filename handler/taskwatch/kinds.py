"""What each kind of change means, written once: its name, headline, icon, urgency and detail.

Adding a kind is one ``ChangeKind`` member and one ``KINDS`` row; the rules in ``detect`` decide
when it happens, and the renderer, the mentions and the tests' message parser all read this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ChangeKind(str, enum.Enum):
    WATCHING = "watching"  # first sight of a target
    NEW_RUN = "new_run"  # @latest: a newer run appeared
    STATUS = "status"  # running -> success/failed, or any other status change
    PROGRESS = "progress"  # progress crossed a multiple of the step
    STALLED = "stalled"
    MOVING = "moving"  # progress moved again after a stall
    NOT_FOUND = "not_found"
    ERROR = "error"  # reads failed error_ticks times in a row
    RECOVERED = "recovered"  # first good read after an error alert or a not-found
    REMOVED = "removed"  # a discovered instance is no longer listed
    CHANNEL_FAILING = "channel_failing"  # a channel failed error_ticks deliveries in a row (told to the others)
    CHANNEL_OK = "channel_ok"  # that channel delivered again
    REGRESSION = "regression"  # a metric worse than the previous successful run's by more than regression_pct
    REMINDER = "reminder"  # a failed or unreadable target told again every remind_hours


@dataclass(frozen=True)
class KindInfo:
    headline: str  # the words of its line in a digest ("" for status: "old → new" says it)
    icon: str | None  # None: the icon of the task's status
    urgent: bool = False  # mentions the owners
    urgent_statuses: frozenset[str] = frozenset()  # urgent only when the task ends in one of these
    shows_detail: bool = False  # its detail text gets a line of its own
    shows_status: bool = False  # the headline names the task's status ("now watching: running")


STATUS_ICONS = {"success": "✅", "failed": "❌", "running": "🏃"}
DEFAULT_STATUS_ICON = "🔔"
STATUS_CHANGE_ICON = "🔄"  # a status change to a status without an icon of its own

KINDS: dict[ChangeKind, KindInfo] = {
    ChangeKind.WATCHING: KindInfo("now watching", None, shows_status=True),
    ChangeKind.NEW_RUN: KindInfo("new run", None, shows_status=True),
    ChangeKind.STATUS: KindInfo("", None, urgent_statuses=frozenset({"failed"})),
    ChangeKind.PROGRESS: KindInfo("progress", None),
    ChangeKind.STALLED: KindInfo("stalled", "⏸️", urgent=True, shows_detail=True),
    ChangeKind.MOVING: KindInfo("moving again", None),
    ChangeKind.NOT_FOUND: KindInfo("not found", "❓", shows_detail=True),
    ChangeKind.ERROR: KindInfo("cannot read", "⚠️", urgent=True, shows_detail=True),
    ChangeKind.RECOVERED: KindInfo("recovered", "🔁", shows_detail=True),
    ChangeKind.REMOVED: KindInfo("no longer listed", "🗑️", shows_detail=True),
    ChangeKind.CHANNEL_FAILING: KindInfo("channel failing", "📵", urgent=True, shows_detail=True),
    ChangeKind.CHANNEL_OK: KindInfo("channel delivers again", "📶", shows_detail=True),
    ChangeKind.REGRESSION: KindInfo("regression", "⚠️", urgent=True, shows_detail=True),
    ChangeKind.REMINDER: KindInfo("reminder", "⏰", shows_detail=True),
}


def is_urgent(kind: ChangeKind, status: str | None) -> bool:
    info = KINDS[kind]
    return info.urgent or (status is not None and status in info.urgent_statuses)


def passes(filters: tuple[str, ...] | None, kind: ChangeKind, status: str | None) -> bool:
    """Whether a change passes a ``kinds`` filter: a kind's name, or ``status:<new status>``."""
    if filters is None:
        return True
    return kind.value in filters or (kind == ChangeKind.STATUS and f"status:{status}" in filters)


def icon(kind: ChangeKind, status: str | None) -> str:
    info = KINDS[kind]
    if info.icon is not None:
        return info.icon
    fallback = STATUS_CHANGE_ICON if kind == ChangeKind.STATUS else DEFAULT_STATUS_ICON
    return STATUS_ICONS.get(status or "", fallback)
