"""Fixtures for the emulator's own tests: a manual clock, a started Emulator and real clients."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import alibabacloud_oss_v2 as oss
import pytest

# emu_clients sits beside this file; make it importable under any pytest --import-mode.
sys.path.insert(0, str(Path(__file__).parent))
from emu_clients import AK, BUCKET, ROBOT_SECRET, ROBOT_TOKEN, SECRET, TOKEN, Acs, oss_client

from taskwatch_emulator import Emulator, ManualClock


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # aliyunsdkcore proxies even loopback and lets ALIYUN_* replace the given credential.
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "ALIYUN_ACCESS_KEY_ID",
        "ALIYUN_ACCESS_KEY_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Emulator]:
    with Emulator(AK, SECRET, TOKEN, ROBOT_TOKEN, ROBOT_SECRET, clock=clock) as e:
        e.oss.create_bucket(BUCKET)
        yield e
    assert not e.opensearch.errors and not e.oss.errors and not e.dingtalk.errors


@pytest.fixture
def acs(emu: Emulator) -> Acs:
    return Acs(emu)


@pytest.fixture
def ossc(emu: Emulator) -> oss.Client:
    return oss_client(emu)
