"""Delivery to several channels: which channels each change goes to, and one digest per channel.

Claims are per change *and* channel (``claims/<channel>/<change id>``): a change reaches each of its
channels once, whichever tick delivers it there. A channel that fails keeps its changes in its
outbox (``outbox.ChannelState``) and holds back no other channel.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from . import logs
from .claims import CLAIMS_DIR, ClaimOutcome, Claims, claim_all
from .kinds import ChangeKind, passes
from .model import Change
from .outbox import ChannelState, enqueue
from .pool import parallel
from .ports import DeliveryError, Notifier, StateStore, StoreError
from .redact import scrub
from .setting_values import Channel, Route

CHANNEL_TARGET = "channel:"  # the target of a channel_failing / channel_ok change: "channel:<name>"
CHANNEL_KINDS = (ChangeKind.CHANNEL_FAILING, ChangeKind.CHANNEL_OK)


@dataclass(frozen=True)
class Outlet:
    """A channel and the notifier that delivers to it."""

    channel: Channel
    notifier: Notifier
    zone: str = "UTC"  # how its digests show times


def destinations(
    change: Change, routes: tuple[Route, ...], channels: tuple[Channel, ...]
) -> dict[str, tuple[str, ...]]:
    """The channels ``change`` goes to, each with the owners its watches add to the mentions.

    Every ``[[watch]]`` covering the target counts, each with its own channels and kinds; a target
    no watch covers (or no watches at all) goes to every channel. A channel's own ``kinds`` filter
    applies last. A channel's failing or recovering is told to the other channels.
    """
    if change.kind in CHANNEL_KINDS:
        subject = change.target[len(CHANNEL_TARGET) :]
        return {c.name: () for c in channels if c.name != subject and passes(c.kinds, change.kind, None)}
    by_name = {c.name: c for c in channels}
    covering = [r for r in routes if r.covers(change.target)] or [Route(())]
    found: dict[str, list[str]] = {}
    for route in covering:
        if not passes(route.kinds, change.kind, change.new_status):
            continue
        for name in route.channels if route.channels is not None else tuple(by_name):
            channel = by_name.get(name)
            if channel is None or not passes(channel.kinds, change.kind, change.new_status):
                continue
            owners = found.setdefault(name, [])
            if change.urgent:
                owners.extend(route.mention)
    return {name: tuple(dict.fromkeys(owners)) for name, owners in found.items()}


def digest_key(channel: str, changes: list[Change]) -> str:
    """The digest's deterministic id: the same changes to the same channel give the same id."""
    raw = "\n".join([channel, *sorted(c.id for c in changes)])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass
class Delivery:
    """What one channel did in one tick."""

    channel: str
    sent: list[Change] = field(default_factory=list)  # delivered by this tick
    elsewhere: list[Change] = field(default_factory=list)  # another tick delivered them
    busy: list[Change] = field(default_factory=list)  # another tick is delivering them
    pending: list[Change] = field(default_factory=list)  # not delivered: they wait in the outbox
    held: list[Change] = field(default_factory=list)  # not urgent, in quiet hours: they wait in the outbox
    cause: str | None = None  # why the delivery failed
    rate_limited: bool = False

    @property
    def attempted(self) -> list[Change]:
        return [*self.sent, *self.elsewhere, *self.busy, *self.pending, *self.held]

    @property
    def failed(self) -> bool:
        return self.cause is not None


def deliver(
    outlet: Outlet,
    changes: list[Change],
    mentions: tuple[str, ...],
    store: StateStore,
    *,
    tick_id: str,
    now_ms: int,
    concurrency: int,
) -> Delivery:
    """Claim ``changes`` for this channel, send the ones this tick holds as one digest, mark them sent.

    Never raises: a failure of the store, the platform or the renderer releases the claims and
    leaves the changes pending, with the cause.
    """
    name = outlet.channel.name
    done = Delivery(name)
    if not changes:
        return done
    claims = Claims(store, tick_id, now_ms, prefix=f"{CLAIMS_DIR}{name}/")
    try:
        outcome = claim_all(claims, changes, concurrency)
    except StoreError as err:
        done.pending, done.cause = list(changes), f"cannot claim changes: {err}"
        return done
    ours = [c for c in changes if outcome[c.id] == ClaimOutcome.OURS]
    done.elsewhere = [c for c in changes if outcome[c.id] == ClaimOutcome.SENT]
    done.busy = [c for c in changes if outcome[c.id] == ClaimOutcome.BUSY]
    if not ours:
        return done
    try:
        outlet.notifier.send(outlet.notifier.digest(ours, mentions, outlet.zone), digest_key(name, ours))
    except DeliveryError as err:
        claims.release(ours)
        done.pending, done.cause, done.rate_limited = ours, scrub(str(err)), err.rate_limited
        return done
    except Exception as err:  # a rendering or client bug: the claims go back, nothing is lost
        claims.release(ours)
        done.pending, done.cause = ours, f"{type(err).__name__} while rendering or sending"
        return done
    done.sent = ours
    logs.event("delivered", channel=name, changes=len(ours), ids=[c.id for c in ours])
    for change in ours:
        try:
            claims.mark_sent(change)
        except StoreError as err:  # the state commit still records the delivery
            logs.event("claim_not_marked", logging.WARNING, change=change.id, channel=name, cause=str(err))
    return done


def channel_change(name: str, kind: ChangeKind, base_rev: int, failures: int, detail: str) -> Change:
    """``channel_failing`` / ``channel_ok`` for channel ``name``; two ticks reading one state agree on its id."""
    return Change(
        target=f"{CHANNEL_TARGET}{name}",
        kind=kind,
        base_rev=base_rev,
        discriminator=f"{kind.value}:{failures}",
        detail=detail,
    )


@dataclass
class Round:
    """Every channel's delivery in one tick, what each channel owes afterwards, and what was told
    about channels failing or delivering again."""

    deliveries: dict[str, Delivery]
    owed: dict[str, ChannelState]
    alerts: list[Change]


def deliver_all(
    outlets: list[Outlet],
    changes: list[Change],
    owed_before: Mapping[str, ChannelState],
    routes: tuple[Route, ...],
    store: StateStore,
    *,
    error_ticks: int,
    base_rev: int,
    tick_id: str,
    now_ms: int,
    concurrency: int,
    quiet: bool = False,
) -> Round:
    """Each channel gets what it owes (oldest first) and the new changes routed to it, in parallel.

    In quiet hours only urgent changes go out; the others wait in the outbox and go out together
    with the first digest after the window.

    A channel failing ``error_ticks`` deliveries in a row is told to the others once
    (``channel_failing``), then ``channel_ok`` when it delivers again; those go out in a second
    round to the channels that delivered in the first, and wait in the outbox of the others.
    """
    channels = tuple(o.channel for o in outlets)

    def attempt(outlet: Outlet, todo: list[Change]) -> Delivery:
        name = outlet.channel.name
        held = [c for c in todo if quiet and not c.urgent]
        todo = [c for c in todo if not (quiet and not c.urgent)]
        mentions = tuple(dict.fromkeys(m for c in todo for m in destinations(c, routes, channels).get(name, ())))
        done = deliver(outlet, todo, mentions, store, tick_id=tick_id, now_ms=now_ms, concurrency=concurrency)
        done.held = held
        return done

    routed = _route(changes, routes, channels)
    owed = {o.channel.name: owed_before.get(o.channel.name, ChannelState()) for o in outlets}
    first = parallel(lambda o: attempt(o, _oldest_first(owed[o.channel.name], routed[o.channel.name])), outlets, 8)
    deliveries = {d.channel: d for d in first}
    alerts: list[Change] = []
    for name, done in deliveries.items():
        owed[name], alert = _after(name, owed[name], done, error_ticks, base_rev)
        alerts.extend([alert] if alert else [])
    if alerts:
        told = _route(alerts, routes, channels)
        ready = [o for o in outlets if told[o.channel.name] and not deliveries[o.channel.name].failed]
        for outlet in outlets:
            if outlet not in ready and told[outlet.channel.name]:
                owed[outlet.channel.name] = enqueue(owed[outlet.channel.name], told[outlet.channel.name])
        second = parallel(lambda o: attempt(o, told[o.channel.name]), ready, 8)
        for done in second:
            first_done = deliveries[done.channel]
            first_done.sent += done.sent
            first_done.elsewhere += done.elsewhere
            first_done.busy += done.busy
            first_done.pending += done.pending
            first_done.held += done.held
            first_done.cause, first_done.rate_limited = done.cause, done.rate_limited
            owed[done.channel] = _settled(owed[done.channel], done)
    return Round(deliveries, owed, alerts)


def _oldest_first(owed: ChannelState, new: list[Change]) -> list[Change]:
    known = {c.id for c in owed.pending}
    return [*owed.pending, *(c for c in new if c.id not in known)]


def _route(changes: list[Change], routes: tuple[Route, ...], channels: tuple[Channel, ...]) -> dict[str, list[Change]]:
    routed: dict[str, list[Change]] = {c.name: [] for c in channels}
    for change in changes:
        for name in destinations(change, routes, channels):
            routed[name].append(change)
    return routed


def _settled(owed: ChannelState, done: Delivery) -> ChannelState:
    """What the channel owes after ``done``: what it could not deliver, and what another tick holds."""
    gone = {c.id for c in (*done.sent, *done.elsewhere)}
    waiting = [c for c in owed.pending if c.id not in gone]
    dropped = 0 if done.sent and not done.failed else owed.dropped
    if owed.dropped and not dropped:
        logs.event("outbox_dropped_told", channel=done.channel, dropped=owed.dropped)
    return enqueue(replace(owed, pending=tuple(waiting), dropped=dropped), [*done.pending, *done.busy, *done.held])


def _after(
    name: str, owed: ChannelState, done: Delivery, error_ticks: int, base_rev: int
) -> tuple[ChannelState, Change | None]:
    """The channel's state after its first round, and the alert about it, if one is due."""
    state = _settled(owed, done)
    if done.failed:
        failures = owed.failures + 1
        due = failures >= error_ticks and not owed.alerted
        alert = (
            channel_change(name, ChangeKind.CHANNEL_FAILING, base_rev, failures, f"{name}: {done.cause}")
            if due
            else None
        )
        logs.event("channel_failed", logging.WARNING, channel=name, failures=failures, cause=done.cause)
        return replace(state, failures=failures, alerted=owed.alerted or due, last_error=done.cause), alert
    if not done.sent and not done.elsewhere:
        # Nothing reached the channel (another tick holds its changes and may be failing with
        # them, or nothing was due): no news of it, so its run of failures and its alert stand.
        return state, None
    if owed.alerted:
        detail = f"{name} delivers again after {owed.failures} failed tick(s)"
        alert = channel_change(name, ChangeKind.CHANNEL_OK, base_rev, owed.failures, detail)
        return replace(state, failures=0, alerted=False, last_error=None), alert
    return replace(state, failures=0, last_error=None), None
