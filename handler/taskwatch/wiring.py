"""The one place dependencies are built: settings + a ``Wiring`` (clock, timeouts, warm clients)
-> the OpenSearch reader, state store and notifier -> one tick.

Entry points take a ``Wiring`` and default to ``PROCESS``, this process's; tests and the demo pass
their own (a virtual clock, short timeouts, a fresh client cache) instead of patching modules.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from . import logs
from .model import FailureKind
from .notifiers import build_notifier, channel_secrets
from .opensearch import OpenSearchClient
from .ports import DEFAULT_TIMEOUTS, Notifier, StateStore, TaskReader, Timeouts
from .redact import register_secrets, scrub
from .setting_values import NO_CREDENTIALS, Channel
from .settings import Settings, SettingsError, load_settings
from .stores import open_store
from .tick import TickError, TickResult, run_tick

if TYPE_CHECKING:
    from .config_refs import KmsResolver

_C = TypeVar("_C")
CONFIG_VARIABLE = "TASKWATCH_CONFIG"


@dataclass(frozen=True)
class Services:
    reader: TaskReader
    store: StateStore
    notifiers: Mapping[str, Notifier]  # by channel name, in the settings' order

    @property
    def notifier(self) -> Notifier:
        """The first channel's: the only one when no config file lists channels."""
        return next(iter(self.notifiers.values()))


def remember_secrets(settings: Settings) -> None:
    creds = settings.credentials
    register_secrets(
        [
            creds.access_key_secret if creds else None,
            creds.security_token if creds else None,
            settings.http_token,
            *channel_secrets(settings.channels),
        ]
    )


class ClientCache:
    """Clients kept across the invocations of one warm instance (no new TLS handshake per tick).

    Each kind of client is rebuilt when anything it is built from changes (STS credentials rotate,
    settings or timeouts change); only the newest one of each kind is kept, so rotating tokens
    never grow memory. Thread-safe: `taskwatch serve` runs ticks from several threads, and a build
    happens under the lock, so threads asking at once share one client instead of each building
    (and connecting) their own. A replaced client is not closed: a tick may still be using it, and
    its pooled sockets close when it is collected.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Hashable, Any]] = {}

    def get(self, kind: str, key: Hashable, build: Callable[[], _C]) -> _C:
        with self._lock:
            entry = self._entries.get(kind)
            if entry is not None and entry[0] == key:
                client: _C = entry[1]
                return client
            client = build()
            self._entries[kind] = (key, client)
            return client


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Wiring:
    """What a tick is run with besides its settings."""

    clock: Callable[[], int] = wall_clock_ms  # ms since the epoch
    timeouts: Timeouts = DEFAULT_TIMEOUTS
    clients: ClientCache = field(default_factory=ClientCache)
    in_fc: bool = True  # inside Function Compute: FC-only defaults and OSS's internal endpoint


# This process's: FC keeps a warm instance's module state, and with it these clients, between invocations.
PROCESS = Wiring()
# The command line and `taskwatch serve`: settings as outside FC, the same warm clients.
LOCAL = Wiring(clients=PROCESS.clients, in_fc=False)


def load(
    env: Mapping[str, str],
    context: Any = None,
    *,
    wiring: Wiring = PROCESS,
    kms: KmsResolver | None = None,
    **options: bool,
) -> Settings:
    """The settings of one invocation: the environment, and the config file TASKWATCH_CONFIG names
    (read now, at every tick, before any other request). ``options`` are load_settings'.

    ``kms`` reads the file's ``${kms:Name}`` secrets; by default they come from KMS once per
    instance (the wiring's client cache keeps them). ``config_refs.kms_unread`` records them
    without reading (`taskwatch policy`)."""
    raw = env.get(CONFIG_VARIABLE, "").strip()
    config = None
    if raw:
        from .config import parse_config
        from .config_source import read_config
        from .kms import resolver

        data = read_config(raw, env, context, wiring.timeouts, in_fc=wiring.in_fc)
        config = parse_config(data, raw, env, kms or resolver(env, context, wiring.clients, wiring.timeouts))
    return load_settings(env, context, in_fc=wiring.in_fc, config=config, **options)


def build_services(settings: Settings, wiring: Wiring = PROCESS) -> Services:
    """The tick's clients from the wiring's cache, built where none fits yet.

    Each key is everything its client is built from, so rotated credentials or changed settings
    get a new client and the same ones get the warm one.
    """
    if settings.credentials is None:
        raise SettingsError("ALIBABA_CLOUD_ACCESS_KEY_ID", NO_CREDENTIALS)
    cache, timeouts, creds = wiring.clients, wiring.timeouts, settings.credentials
    reader_key = (settings.opensearch_endpoint, settings.region, creds, settings.concurrency, timeouts)
    reader = cache.get(
        "opensearch",
        reader_key,
        lambda: OpenSearchClient(
            settings.opensearch_endpoint, settings.region, creds, pool_size=settings.concurrency, timeouts=timeouts
        ),
    )

    notifiers = LazyNotifiers(settings, wiring)  # an idle tick sends nothing: no client, no renderer loaded
    return Services(reader=reader, store=build_store(settings, wiring), notifiers=notifiers)


def build_notifiers(settings: Settings, wiring: Wiring = PROCESS) -> dict[str, Notifier]:
    """Every channel's client, by name in the settings' order, from the wiring's cache."""
    cache, timeouts = wiring.clients, wiring.timeouts

    def notifier(channel: Channel) -> Notifier:
        return cache.get(f"notifier:{channel.name}", (channel, timeouts), lambda: build_notifier(channel, timeouts))

    return {channel.name: notifier(channel) for channel in settings.channels}


class LazyNotifiers(Mapping[str, Notifier]):
    """Every channel's client by name, each built (or taken from the cache) on first use."""

    def __init__(self, settings: Settings, wiring: Wiring) -> None:
        self._settings = settings
        self._wiring = wiring
        self._built: dict[str, Notifier] = {}

    def __getitem__(self, name: str) -> Notifier:
        if name not in self._built:
            channel = next((c for c in self._settings.channels if c.name == name), None)
            if channel is None:
                raise KeyError(name)
            cache, timeouts = self._wiring.clients, self._wiring.timeouts
            key = f"notifier:{name}"
            self._built[name] = cache.get(key, (channel, timeouts), lambda: build_notifier(channel, timeouts))
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(c.name for c in self._settings.channels)

    def __len__(self) -> int:
        return len(self._settings.channels)


def build_store(settings: Settings, wiring: Wiring = PROCESS) -> StateStore:
    """The state store, from the wiring's cache; StoreError for OSS state without credentials."""
    timeouts = wiring.timeouts
    if settings.state.scheme == "file" or settings.credentials is None:
        return open_store(settings, timeouts)
    # The pool's size is the concurrency: every thread of a tick keeps its connection.
    store_key = (
        settings.state,
        settings.oss_endpoint,
        settings.oss_internal,
        settings.region,
        settings.credentials,
        settings.concurrency,
        timeouts,
    )
    return wiring.clients.get("oss", store_key, lambda: open_store(settings, timeouts))


def tick(
    settings: Settings,
    *,
    wiring: Wiring = PROCESS,
    dry_run: bool = False,
    services: Services | None = None,
    tick_id: str | None = None,
    read_budget_s: float | None = None,
) -> TickResult:
    """Run one tick and log its outcome; TickError carries a one-line, scrubbed cause.

    Without ``services`` the clients come from the wiring's cache, so a second tick reuses their
    connections.
    """
    remember_secrets(settings)
    services = services or build_services(settings, wiring)
    started = time.monotonic()
    try:
        result = run_tick(
            settings,
            reader=services.reader,
            store=services.store,
            notifiers=services.notifiers,
            now_ms=wiring.clock,
            tick_id=tick_id or os.urandom(16).hex(),  # the uuid module would cost the cold start
            dry_run=dry_run,
            read_budget_s=read_budget_s,
        )
    except TickError as err:
        err.cause = scrub(err.cause)
        logs.event("tick_failed", logging.ERROR, cause=err.cause, ms=_ms_since(started))
        raise
    logs.event(
        "tick_done",
        targets=len(settings.targets),
        changes=len(result.changes),
        sent=len(result.sent),
        readFailures=len(result.read_failures),
        saved=result.saved,
        dryRun=dry_run,
        ms=_ms_since(started),
    )
    return result


def read_budget(context: Any) -> float | None:
    """Half of the function's timeout for reading, the rest for claims, delivery and the commit."""
    timeout = getattr(getattr(context, "function", None), "timeout", None)
    try:
        return max(5.0, float(timeout) * 0.5) if timeout else None
    except (TypeError, ValueError):
        return None


def read_failure_cause(result: TickResult) -> str | None:
    """A one-line cause when targets could not be read (not-found is an answer, not a failure)."""
    failed = {k: f for k, f in result.read_failures.items() if f.kind != FailureKind.NOT_FOUND}
    if not failed:
        return None
    key, first = next(iter(failed.items()))
    return scrub(f"{len(failed)} target(s) could not be read; {key}: {first.kind.value}: {first.message}")


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
