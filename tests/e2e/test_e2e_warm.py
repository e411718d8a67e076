"""A warm instance keeps its clients: the second tick opens no new connection to any service."""

from __future__ import annotations

import threading

import pytest
from conftest import AK_ID, AK_SECRET, Cloud

from taskwatch.app import ClientCache, build_services
from taskwatch.settings import load_settings
from taskwatch_emulator import Step

APP, FN = "search_app", "ranker"


def connections(cloud: Cloud) -> dict[str, int]:
    emu = cloud.emu
    return {"opensearch": emu.opensearch.connections, "oss": emu.oss.connections, "dingtalk": emu.dingtalk.connections}


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
def test_the_second_tick_of_a_warm_instance_opens_no_connection(cloud: Cloud) -> None:
    cloud.monkeypatch.setenv("TASKWATCH_TARGETS", f"{APP}/{FN}/main,{APP}/{FN}/other")
    # A pool holds as many connections as calls were in flight at once: with a realistic latency
    # the first tick's reads overlap fully, so the second tick cannot need one more by chance.
    cloud.emu.opensearch.latency = cloud.emu.oss.latency = 0.05
    task = cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.emu.opensearch.add_task(APP, FN, "other", 3, [Step("running", 10)])
    cloud.tick()
    first = connections(cloud)
    task.steps = [Step("success", 100)]  # the second tick reads, claims, sends and saves

    assert [c["kind"] for c in cloud.tick()["changes"]] == ["status"]

    assert all(first.values()) and connections(cloud) == first


def test_clients_are_rebuilt_when_what_they_are_built_from_changes() -> None:
    env = {
        "TASKWATCH_TARGETS": "a/b/c",
        "TASKWATCH_REGION": "cn-hangzhou",
        "TASKWATCH_STATE": "oss://tw-state/x",
        "DINGTALK_WEBHOOK": "https://oapi.dingtalk.com/robot/send?access_token=t0123456",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": AK_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": AK_SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": "token-one-0123456789",
    }
    cache = ClientCache()
    one = build_services(load_settings(env), cache)
    same = build_services(load_settings(env), cache)
    assert (same.reader, same.store, same.notifier) == (one.reader, one.store, one.notifier)

    rotated = build_services(load_settings({**env, "ALIBABA_CLOUD_SECURITY_TOKEN": "token-two-0123456789"}), cache)
    assert rotated.reader is not one.reader and rotated.store is not one.store
    assert rotated.notifier is one.notifier  # the robot does not use the cloud credentials
    moved = build_services(load_settings({**env, "TASKWATCH_OPENSEARCH_ENDPOINT": "https://127.0.0.1:9"}), cache)
    assert moved.reader is not rotated.reader
    robot = build_services(load_settings({**env, "DINGTALK_WEBHOOK": env["DINGTALK_WEBHOOK"] + "x"}), cache)
    assert robot.notifier is not one.notifier
    assert build_services(load_settings(env), ClientCache()).reader is not one.reader  # caches are separate


def test_threads_get_one_consistent_set() -> None:
    env = {
        "TASKWATCH_TARGETS": "a/b/c",
        "TASKWATCH_REGION": "cn-hangzhou",
        "TASKWATCH_STATE": "oss://tw-state/x",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": AK_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": AK_SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": "token-one-0123456789",
    }
    cache = ClientCache()
    settings = load_settings(env)
    barrier = threading.Barrier(8)
    readers: list[object] = []

    def one() -> None:
        barrier.wait(timeout=10)
        readers.append(build_services(settings, cache).reader)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(readers) == 8 and len({id(r) for r in readers}) == 1
