"""The client cache of a warm instance: what makes it rebuild a client, and what it never keeps.

tests/e2e/test_e2e_warm.py covers reuse, a rotated STS token, a moved endpoint, a new webhook,
threads and the connections counted by the emulator; these are the remaining keys and rules.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from fakes import MemoryStore

from taskwatch import app, opensearch, store
from taskwatch.app import ClientCache, Services, build_services
from taskwatch.model import Task
from taskwatch.notifiers import dingtalk
from taskwatch.notifiers.console import ConsoleNotifier
from taskwatch.settings import Target, load_settings

ENV = {
    "TASKWATCH_TARGETS": "a/b/c",
    "TASKWATCH_REGION": "cn-hangzhou",
    "TASKWATCH_STATE": "oss://tw-state/x",
    "DINGTALK_WEBHOOK": "https://oapi.dingtalk.com/robot/send?access_token=t0123456",
    "DINGTALK_SECRET": "SECwiring-secret-0123456789",
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.WiringKeyId",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wiring-secret-0123456789",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "wiring-token-0123456789",
}


class StubReader:
    def get_task(self, target: Target, generation: str) -> Task:
        return opensearch.parse_task({"Generation": generation, "Status": "running", "Progress": 10})

    def list_tasks(self, target: Target, page_number: int = 1, page_size: int = 20) -> list[Task]:
        return [self.get_task(target, "7")]


def built(cache: ClientCache, **changes: str) -> Services:
    env: Mapping[str, str] = {**ENV, **changes}
    return build_services(load_settings(env), cache)


@pytest.mark.parametrize("variable", ["ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_ID"])
def test_a_new_key_secret_or_id_rebuilds_the_cloud_clients_only(variable: str) -> None:
    cache = ClientCache()
    one = built(cache)
    other = built(cache, **{variable: ENV[variable] + "-rotated"})
    assert other.reader is not one.reader and other.store is not one.store
    assert other.notifier is one.notifier


def test_a_new_robot_secret_rebuilds_the_notifier_only() -> None:
    cache = ClientCache()
    one = built(cache)
    other = built(cache, DINGTALK_SECRET="SECanother-secret-0123456789")
    assert other.notifier is not one.notifier
    assert (other.reader, other.store) == (one.reader, one.store)


def test_changed_timeouts_rebuild_the_clients_that_use_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests patch these constants; a client built with the old timeouts must not be handed out.
    cache = ClientCache()
    one = built(cache)
    monkeypatch.setattr(opensearch, "READ_TIMEOUT_S", 0.25)
    monkeypatch.setattr(store, "READWRITE_TIMEOUT_S", 0.25)
    monkeypatch.setattr(dingtalk, "READ_TIMEOUT_S", 0.25)
    other = built(cache)
    assert other.reader is not one.reader and other.store is not one.store and other.notifier is not one.notifier


def test_only_the_newest_client_of_each_kind_is_kept() -> None:
    cache = ClientCache()
    first = built(cache)
    for n in range(5):  # STS tokens rotating for hours
        built(cache, ALIBABA_CLOUD_SECURITY_TOKEN=f"rotated-token-{n}-0123456789")
    assert len(cache._entries) == 3  # opensearch, oss, notifier
    assert built(cache).reader is not first.reader  # the first token's client is gone


def test_file_state_is_built_each_time() -> None:
    cache = ClientCache()
    env = {k: v for k, v in ENV.items() if not k.startswith("DINGTALK_")}
    settings = load_settings({**env, "TASKWATCH_STATE": "file:///tmp/taskwatch-wiring"})
    one, two = build_services(settings, cache), build_services(settings, cache)
    assert one.reader is two.reader
    assert one.store is not two.store  # a file store holds no connection worth keeping
    assert isinstance(one.notifier, ConsoleNotifier) and set(cache._entries) == {"opensearch", "notifier"}


def test_tick_with_services_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(*args: object, **kwargs: object) -> Services:
        raise AssertionError("tick built services although it was given some")

    monkeypatch.setattr(app, "build_services", no_build)
    services = Services(reader=StubReader(), store=MemoryStore(), notifier=ConsoleNotifier())
    result = app.tick(load_settings(ENV), services=services, dry_run=True)
    assert result.saved is False
