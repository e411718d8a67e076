"""Emulator start/stop, env() and thread hygiene."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from taskwatch_emulator import Emulator


def test_env_points_at_the_emulator() -> None:
    with Emulator("STS.a", "s", "tok", "robot", "SECx") as emu:
        env = emu.env(bucket="tw-state", prefix="p")
        assert env["TASKWATCH_OPENSEARCH_ENDPOINT"] == emu.opensearch_endpoint
        assert env["TASKWATCH_OSS_ENDPOINT"].startswith("http://127.0.0.1:")
        assert env["DINGTALK_WEBHOOK"] == emu.dingtalk_webhook
        assert env["DINGTALK_SECRET"] == "SECx"
        assert env["ALIBABA_CLOUD_ACCESS_KEY_ID"] == "STS.a"
        assert env["ALIBABA_CLOUD_SECURITY_TOKEN"] == "tok"
        assert env["TASKWATCH_REGION"] == "cn-hangzhou"
        assert env["TASKWATCH_STATE"] == "oss://tw-state/p"
        assert "tw-state" in emu.oss.buckets
    with pytest.raises(RuntimeError):  # not started: no endpoints yet
        Emulator().env()


def test_many_emulators_stop_fast_without_leftover_threads() -> None:
    before = threading.active_count()
    start = time.perf_counter()
    for _ in range(10):
        with Emulator() as emu:
            emu.dingtalk.inject("timeout", seconds=5)  # a handler asleep at stop time
            with pytest.raises(requests.Timeout):
                requests.post(emu.dingtalk_webhook, json={"msgtype": "text"}, timeout=0.02)
    assert time.perf_counter() - start < 2
    deadline = time.monotonic() + 1
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before


def test_bad_bucket_name_is_refused_early() -> None:
    with pytest.raises(ValueError):
        Emulator().oss.create_bucket("b")
