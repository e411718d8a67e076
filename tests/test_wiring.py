"""The clients a warm instance keeps: what makes one rebuilt, what it never keeps, and the
connections a second tick opens (counted by the emulator: none).

Every test here uses its own ClientCache, passed in; the process's own cache is left alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
from helpers.creds import AK_ID, AK_SECRET, DINGTALK_SECRET, STS_TOKEN, cloud_env
from helpers.fakes import WEBHOOK, MemoryStore

from taskwatch import wiring
from taskwatch.model import Task
from taskwatch.notifiers.console import ConsoleNotifier
from taskwatch.ports import Timeouts
from taskwatch.settings import Settings, Target, load_settings
from taskwatch.wiring import ClientCache, Services, Wiring, build_services, tick
from taskwatch_emulator import Emulator, ManualClock, Step
from taskwatch_emulator import Task as EmulatedTask

ENV = {
    "TASKWATCH_TARGETS": "a/b/c",
    "TASKWATCH_REGION": "cn-hangzhou",
    "TASKWATCH_STATE": "oss://tw-state/x",
    "DINGTALK_WEBHOOK": WEBHOOK,
    "DINGTALK_SECRET": DINGTALK_SECRET,
    **cloud_env(),
}
KINDS = ("reader", "store", "notifier")
CLOUD = {"reader", "store"}  # the clients that sign with the cloud credentials


class StubReader:
    def get_task(self, target: Target, generation: str) -> Task:
        return Task(generation=generation, status="running", progress=10)

    def list_tasks(self, target: Target, page_number: int = 1, page_size: int = 20) -> list[Task]:
        return [self.get_task(target, "7")]


def built(cache: ClientCache, timeouts: Timeouts | None = None, **changes: str) -> Services:
    env: Mapping[str, str] = {**ENV, **changes}
    services = build_services(load_settings(env), Wiring(clients=cache, timeouts=timeouts or Timeouts()))
    assert services.notifier is not None  # chat clients are built on first use, as a tick with changes does
    return services


def test_an_idle_tick_builds_no_chat_client() -> None:
    cache = ClientCache()
    build_services(load_settings(ENV), Wiring(clients=cache))
    assert set(cache._entries) == {"opensearch", "oss"}


def rebuilt(one: Services, other: Services) -> set[str]:
    return {kind for kind in KINDS if getattr(one, kind) is not getattr(other, kind)}


# --- what a client is keyed by (no network: building a client connects nowhere) ------------------


def test_the_same_settings_get_the_same_clients() -> None:
    cache = ClientCache()
    assert rebuilt(built(cache), built(cache)) == set()
    assert rebuilt(built(cache), built(ClientCache())) == set(KINDS)  # caches share nothing


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        # STS credentials rotate: any part of them is a new credential.
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "rotated-token-0123456789", CLOUD),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "rotated-secret-0123456789", CLOUD),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.RotatedKeyId", CLOUD),
        ("TASKWATCH_REGION", "cn-shanghai", CLOUD),
        ("TASKWATCH_CONCURRENCY", "32", CLOUD),  # both size their connection pools by it
        ("TASKWATCH_OPENSEARCH_ENDPOINT", "https://opensearch.example.com", {"reader"}),
        ("TASKWATCH_OSS_ENDPOINT", "https://oss.example.com", {"store"}),
        ("TASKWATCH_STATE", "oss://tw-other/x", {"store"}),
        ("TASKWATCH_STATE", "oss://tw-state/y", {"store"}),
        ("DINGTALK_WEBHOOK", "https://oapi.dingtalk.com/robot/send?access_token=t6543210", {"notifier"}),
        ("DINGTALK_SECRET", "SECanother-secret-0123456789", {"notifier"}),
        ("DINGTALK_AT_MOBILES", "13800000000", {"notifier"}),
        ("DINGTALK_KEYWORD", "taskwatch", {"notifier"}),
        # Settings the tick reads, not the clients: nothing is rebuilt.
        ("TASKWATCH_TARGETS", "a/b/c,d/e/f", set()),
        ("TASKWATCH_PROGRESS_STEP", "10", set()),
        ("TASKWATCH_STALL_MINUTES", "5", set()),
        ("TASKWATCH_ERROR_TICKS", "1", set()),
        ("TASKWATCH_HTTP_TOKEN", "http-token-0123456789", set()),
    ],
)
def test_a_changed_setting_rebuilds_exactly_the_clients_built_from_it(
    variable: str, value: str, expected: set[str]
) -> None:
    cache = ClientCache()
    one = built(cache)
    other = built(cache, **{variable: value})
    assert rebuilt(one, other) == expected
    assert rebuilt(other, built(cache, **{variable: value})) == set()  # and the new ones are kept


def test_changed_timeouts_rebuild_the_clients_that_use_them() -> None:
    # A client built with other timeouts must not be handed out.
    cache = ClientCache()
    one = built(cache)
    assert rebuilt(one, built(cache, Timeouts(opensearch_read=0.25, oss_readwrite=0.25, chat_read=0.25))) == set(KINDS)


def test_only_the_newest_client_of_each_kind_is_kept() -> None:
    cache = ClientCache()
    first = built(cache)
    for n in range(5):  # STS tokens rotating for hours
        built(cache, ALIBABA_CLOUD_SECURITY_TOKEN=f"rotated-token-{n}-0123456789")
    assert len(cache._entries) == 3  # opensearch, oss, notifier
    assert rebuilt(first, built(cache)) == CLOUD  # the first token's clients are gone


def test_file_state_is_built_each_time() -> None:
    cache = ClientCache()
    env = {k: v for k, v in ENV.items() if not k.startswith("DINGTALK_")}
    settings = load_settings({**env, "TASKWATCH_STATE": "file:///tmp/taskwatch-wiring"})
    one, two = build_services(settings, Wiring(clients=cache)), build_services(settings, Wiring(clients=cache))
    assert rebuilt(one, two) == {"store"}  # a file store holds no connection worth keeping
    assert isinstance(one.notifier, ConsoleNotifier) and set(cache._entries) == {"opensearch", "notifier:console"}


def test_threads_asking_at_once_get_one_consistent_set() -> None:
    cache = ClientCache()
    settings = load_settings(ENV)
    barrier = threading.Barrier(8)
    sets: list[Services] = []

    def one() -> None:
        barrier.wait(timeout=10)
        sets.append(build_services(settings, Wiring(clients=cache)))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(sets) == 8
    assert all(rebuilt(sets[0], other) == set() for other in sets)
    assert rebuilt(sets[0], build_services(settings, Wiring(clients=cache))) == set()  # and that set is the one kept


def test_tick_with_services_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(*args: object, **kwargs: object) -> Services:
        raise AssertionError("tick built services although it was given some")

    monkeypatch.setattr(wiring, "build_services", no_build)
    services = Services(reader=StubReader(), store=MemoryStore(), notifiers={"console": ConsoleNotifier()})
    result = tick(load_settings(ENV), services=services, dry_run=True)
    assert result.saved is False


# --- connections, counted by the emulator -------------------------------------------------------

LATENCY_S = 0.05  # every call of a tick overlaps, as over a network: both ticks need the same pool


@dataclass
class Instance:
    """One warm function instance: its clients, and the emulator it talks to."""

    emu: Emulator
    env: dict[str, str]
    cache: ClientCache
    tasks: list[EmulatedTask]

    def settings(self, **changes: str) -> Settings:
        return load_settings({**self.env, **changes})

    def tick(self, settings: Settings | None = None) -> dict[str, int]:
        """The connections each service accepted during one tick (which must read every target
        and deliver)."""
        before = self.connections()
        sent = len(self.emu.dingtalk.messages)
        result = tick(settings or self.settings(), wiring=Wiring(clients=self.cache))
        assert not result.read_failures and result.sent and len(self.emu.dingtalk.messages) == sent + 1
        return {name: count - before[name] for name, count in self.connections().items()}

    def connections(self) -> dict[str, int]:
        services = {"opensearch": self.emu.opensearch, "oss": self.emu.oss, "dingtalk": self.emu.dingtalk}
        return {name: service.connections for name, service in services.items()}

    def change_every_task(self, status: str) -> None:
        for task in self.tasks:
            task.steps = [Step(status, 100)]


def instance(targets: int, concurrency: int, latency_s: float = LATENCY_S) -> Iterator[Instance]:
    clock = ManualClock(time.time())  # taskwatch signs with the real clock
    with Emulator(access_key_id=AK_ID, access_key_secret=AK_SECRET, security_token=STS_TOKEN, clock=clock) as emu:
        emu.opensearch.latency = emu.oss.latency = latency_s
        env = emu.env(bucket="tw-wiring", prefix="tw")
        env["TASKWATCH_TARGETS"] = ",".join(f"app/fn/i{n}" for n in range(targets))
        env["TASKWATCH_CONCURRENCY"] = str(concurrency)
        tasks = [emu.opensearch.add_task("app", "fn", f"i{n}", 7, [Step("running", 10)]) for n in range(targets)]
        yield Instance(emu, env, ClientCache(), tasks)
        assert not emu.opensearch.errors and not emu.oss.errors and not emu.dingtalk.errors


@pytest.fixture
def warm() -> Iterator[Instance]:
    yield from instance(targets=4, concurrency=16)


@pytest.fixture
def busy() -> Iterator[Instance]:
    # More threads than the OSS SDK's default pool of 20 keeps; every target changes every tick.
    yield from instance(targets=32, concurrency=32, latency_s=0.0)


def test_the_second_tick_opens_no_connection(warm: Instance) -> None:
    first = warm.tick()  # every target "now watching": reads, one batch claim, delivers, saves
    warm.change_every_task("failed")
    warm.tick()  # a claim per change, in parallel: the pools now hold what a tick's overlap needs
    kept = build_services(warm.settings(), Wiring(clients=warm.cache))
    warm.change_every_task("success")

    assert warm.tick() == {"opensearch": 0, "oss": 0, "dingtalk": 0}
    assert all(first.values())
    assert rebuilt(kept, build_services(warm.settings(), Wiring(clients=warm.cache))) == set()


def test_a_warm_instance_never_opens_more_connections_than_it_has_threads(busy: Instance) -> None:
    # A pool keeps as many connections as were in flight at once, at most its size: with pools of
    # TASKWATCH_CONCURRENCY, ticks after the first open only what a fuller overlap needs, never more
    # than 32 in all. The OSS SDK's own pool would keep 20 and open the other 12 again on every tick.
    opened = []
    for status in ("", "success", "failed"):
        if status:
            busy.change_every_task(status)
        # Slow reads and claim writes (they run in parallel), so that well over 20 of the 32 are in
        # flight together even on a loaded machine; the claims marked sent one by one stay fast.
        busy.emu.opensearch.inject("latency", times=32, seconds=0.2)
        busy.emu.oss.inject("latency", times=32, method="PUT", path="/claims/", seconds=0.2)
        opened.append(busy.tick())

    total = {name: sum(tick[name] for tick in opened) for name in opened[0]}
    assert 20 < total["oss"] <= 32 and 20 < total["opensearch"] <= 32 and total["dingtalk"] == 1, opened


def test_a_rotated_sts_token_reconnects_the_cloud_clients_only(warm: Instance) -> None:
    warm.tick()
    warm.emu.keys.add(AK_ID, AK_SECRET, "wiring-token-two")  # STS hands out a new token
    warm.change_every_task("success")

    rotated = warm.tick(warm.settings(ALIBABA_CLOUD_SECURITY_TOKEN="wiring-token-two"))

    assert rotated["opensearch"] > 0 and rotated["oss"] > 0 and rotated["dingtalk"] == 0


def test_connections_the_services_closed_between_ticks_are_opened_again(warm: Instance) -> None:
    # A kept client finds its pooled connections closed (a service's keep-alive timeout, say while
    # FC froze the instance): it notices before sending and connects again, and nothing fails.
    warm.tick()
    for service in (warm.emu.opensearch, warm.emu.oss, warm.emu.dingtalk):
        service.close_idle_connections()
    warm.change_every_task("success")

    reopened = warm.tick()  # delivers, or it fails

    assert all(reopened.values()), reopened
