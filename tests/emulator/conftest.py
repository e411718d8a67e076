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
from emu_clients import BUCKET, Acs, oss_client
from helpers.creds import AK_ID, AK_SECRET, DINGTALK_SECRET, STS_TOKEN, WEBHOOK_TOKEN

from taskwatch_emulator import Emulator, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Emulator]:
    with Emulator(AK_ID, AK_SECRET, STS_TOKEN, WEBHOOK_TOKEN, DINGTALK_SECRET, clock=clock) as e:
        e.oss.create_bucket(BUCKET)
        yield e
    assert not e.opensearch.errors and not e.oss.errors and not e.dingtalk.errors


@pytest.fixture
def acs(emu: Emulator) -> Acs:
    return Acs(emu)


@pytest.fixture
def ossc(emu: Emulator) -> oss.Client:
    return oss_client(emu)
