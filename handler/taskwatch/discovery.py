"""Discovery: wildcard targets (``app/function/*``, ``app/*``) become one ``@latest`` target per
listed instance.

Instances are listed (``ListFunctionInstances``, every page) on the first tick and then every
``discover_minutes``; in between the stored list is used, so an idle tick makes no listing call. A
newly listed instance is a new target ("now watching"); one no longer listed is told once as
``removed``. A failed listing keeps the previous list; ``error_ticks`` failures in a row are one
``error`` for the wildcard, and the next good listing a ``recovered``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .model import Change, ChangeKind, Listing, ReadFailure, State
from .opensearch import OpenSearchError, TaskNotFound
from .pool import parallel
from .ports import INSTANCE_PAGE_SIZE, TaskReader
from .redact import scrub
from .setting_values import MAX_TARGETS, Target
from .settings import Settings

MAX_PAGES = MAX_TARGETS // INSTANCE_PAGE_SIZE + 1  # a listing that never ends is cut here


@dataclass(frozen=True)
class Discovered:
    targets: tuple[Target, ...]  # every target this tick reads: the named ones and the listed ones
    listings: dict[str, Listing]  # the state's listings after this tick
    changes: list[Change]  # removed, and the listings' error / recovered
    failures: dict[str, ReadFailure]  # wildcard key -> why its listing failed this tick


def discover(settings: Settings, previous: State | None, reader: TaskReader, now_ms: int) -> Discovered:
    prev = previous or State()
    named = [t for t in settings.targets if not t.is_wildcard]
    patterns = [t for t in settings.targets if t.is_wildcard]
    interval_ms = settings.discover_minutes * 60_000

    def due(pattern: Target) -> bool:
        old = prev.discovered.get(pattern.key)
        return old is None or old.listed_at == 0 or interval_ms == 0 or now_ms - old.listed_at >= interval_ms

    listed_now = _list_all([p for p in patterns if due(p)], settings, reader)
    listings: dict[str, Listing] = {}
    changes: list[Change] = []
    failures: dict[str, ReadFailure] = {}
    listed: list[Target] = []
    for pattern in patterns:
        old = prev.discovered.get(pattern.key)
        listing = old or Listing()
        outcome = listed_now.get(pattern.key)
        if isinstance(outcome, OpenSearchError):
            failure = ReadFailure(outcome.kind, scrub(str(outcome)))
            failures[pattern.key] = failure
            listing = replace(listing, failures=listing.failures + 1, last_error=failure.message)
            if listing.failures >= settings.error_ticks and not listing.alerted:
                listing = replace(listing, alerted=True)
                detail = f"listing instances: {failure.message}"
                changes.append(_change(pattern.key, ChangeKind.ERROR, prev, detail))
        elif outcome is not None:
            if listing.alerted:
                changes.append(_change(pattern.key, ChangeKind.RECOVERED, prev, "instances listed again"))
            gone = sorted(set(listing.instances) - set(outcome)) if old is not None else []
            for name in gone:
                key = _target(pattern, name).key
                changes.append(_change(key, ChangeKind.REMOVED, prev, f"no longer listed by {pattern.key}"))
            listing = Listing(instances=outcome, listed_at=now_ms)
        listings[pattern.key] = listing
        listed.extend(_target(pattern, name) for name in listing.instances)
    unique: dict[str, Target] = {}
    for target in (*named, *listed):
        unique.setdefault(target.key, target)
    return Discovered(tuple(unique.values()), listings, changes, failures)


def _list_all(
    patterns: list[Target], settings: Settings, reader: TaskReader
) -> dict[str, tuple[str, ...] | OpenSearchError]:
    """Each pattern's ``function/instance`` names, sorted, or why its listing failed; the functions
    of every pattern are listed in parallel, ``concurrency`` at a time."""
    jobs = [
        (pattern, function)
        for pattern in patterns
        for function in (settings.discover_functions if pattern.function == "*" else (pattern.function,))
    ]

    def one(job: tuple[Target, str]) -> list[str] | OpenSearchError | None:
        pattern, function = job
        try:
            return [f"{function}/{name}" for name in _instances(reader, pattern.app_group, function)]
        except TaskNotFound as err:
            return None if pattern.function == "*" else err  # `app/*` skips a function the group lacks
        except OpenSearchError as err:
            return err
        except Exception as err:  # a reader bug costs this listing, never the other targets
            return OpenSearchError(f"{type(err).__name__}: {err}"[:300])

    results: dict[str, tuple[str, ...] | OpenSearchError] = {}
    found: dict[str, list[str]] = {p.key: [] for p in patterns}
    for (pattern, _), result in zip(jobs, parallel(one, jobs, settings.concurrency), strict=True):
        if isinstance(result, OpenSearchError):
            results.setdefault(pattern.key, result)
        elif result is not None:
            found[pattern.key].extend(result)
    for key, names in found.items():
        results.setdefault(key, tuple(sorted(names)))
    return results


def _instances(reader: TaskReader, app_group: str, function: str) -> list[str]:
    names: list[str] = []
    for number in range(1, MAX_PAGES + 1):
        page = reader.list_instances(app_group, function, number, INSTANCE_PAGE_SIZE)
        names.extend(page.names)
        if len(page.names) < INSTANCE_PAGE_SIZE or (page.total is not None and len(names) >= page.total):
            break
    return list(dict.fromkeys(names))


def _target(pattern: Target, name: str) -> Target:
    function, _, instance = name.partition("/")
    return Target(pattern.app_group, function, instance)


def _change(target: str, kind: ChangeKind, prev: State, detail: str) -> Change:
    # Based on the state's revision: ticks that read the same state compute the same id.
    return Change(
        target=target, kind=kind, base_rev=prev.revision, discriminator=f"listing:{kind.value}", detail=detail
    )


def with_listings(previous: State | None, computed: State, listings: dict[str, Listing]) -> State:
    """The state to store with this tick's listings (a new revision when only they changed)."""
    if listings == computed.discovered:
        return computed
    revision = computed.revision + 1 if previous is not None and computed is previous else computed.revision
    return replace(computed, discovered=listings, revision=revision)
