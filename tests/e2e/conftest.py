"""End-to-end fixtures: the real handler against the loopback emulator, over real HTTP.

`Cloud.tick()` sends an FC-shaped timer event through `fc.handle` (what `index.handler` calls) with
the test's wiring and either context style:
python3.10 passes credentials in `context.credentials`, python3.12 in ALIBABA_CLOUD_* variables.
The emulator's timeline clock and taskwatch's clock are one virtual clock, moved by the test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from helpers.creds import AK_ID, AK_SECRET, CREDENTIAL_ENV, DINGTALK_SECRET, STS_TOKEN, Credentials, cloud_env
from helpers.env import set_env
from helpers.fc import TIMER_EVENT, Context

from taskwatch.fc import handle
from taskwatch.ports import Timeouts
from taskwatch.wiring import Wiring
from taskwatch_emulator import Emulator, ManualClock

BUCKET = "tw-e2e"
START = 1_795_000_000.0  # 2026-11-19, any fixed point
FAST = Timeouts(
    opensearch_connect=0.25,
    opensearch_read=0.25,
    opensearch_backoff=0,
    oss_readwrite=0.25,
    chat_read=0.25,
    chat_backoff=0,
)


@dataclass
class Cloud:
    emu: Emulator
    clock: ManualClock
    style: str  # "py310" or "py312"
    monkeypatch: pytest.MonkeyPatch
    wiring: Wiring
    ticks: int = 0
    credentials: Credentials | None = None  # py310: what context.credentials holds

    def context(self) -> Context:
        self.ticks += 1
        return Context(request_id=f"e2e-{self.ticks}", credentials=self.credentials)

    def use_timeouts(self, **timeouts: float) -> None:
        """Later ticks run with these timeouts (and new clients built with them)."""
        self.wiring = replace(self.wiring, timeouts=replace(self.wiring.timeouts, **timeouts))

    def use_key(self, key_id: str, secret: str, token: str | None = None) -> None:
        """Sign with another key, through whichever channel this runtime style uses."""
        if self.style == "py310":
            self.credentials = Credentials(key_id, secret, token or "")
            return
        set_env(self.monkeypatch, **cloud_env(key_id, secret, token or None))
        if not token:
            self.monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)

    def tick(self, minutes: float = 5) -> dict[str, Any]:
        """One timer tick; then the virtual clock moves on."""
        try:
            answer: dict[str, Any] = json.loads(handle(TIMER_EVENT, self.context(), self.wiring))
            return answer
        finally:
            self.clock.advance(minutes * 60)

    def texts(self) -> list[str]:
        return [m["markdown"]["text"] for m in self.emu.dingtalk.messages]

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.emu.oss.objects[(BUCKET, "tw/state.json")])
        return data

    def objects(self, prefix: str = "tw/") -> list[str]:
        return sorted(key for bucket, key in self.emu.oss.objects if bucket == BUCKET and key.startswith(prefix))


@pytest.fixture(params=["py310", "py312"])
def cloud(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    clock = ManualClock(START)
    # Short client timeouts and no backoff so fault tests stay fast; the logic is the same. The
    # emulator's clock is taskwatch's too.
    wiring = Wiring(clock=lambda: int(clock() * 1000), timeouts=FAST)
    with Emulator(
        access_key_id=AK_ID,
        access_key_secret=AK_SECRET,
        security_token=STS_TOKEN,
        dingtalk_secret=DINGTALK_SECRET,
        keyword="taskwatch",
        clock=clock,
        auth_clock=time.time,
    ) as emu:
        env = emu.env(bucket=BUCKET, prefix="tw")
        env["DINGTALK_AT_MOBILES"] = "13800000000"
        if request.param == "py310":
            for name in CREDENTIAL_ENV:
                env.pop(name)
        set_env(monkeypatch, **env)
        creds = Credentials(AK_ID, AK_SECRET, STS_TOKEN) if request.param == "py310" else None
        yield Cloud(emu, clock, request.param, monkeypatch, wiring, credentials=creds)
        assert not emu.opensearch.errors and not emu.oss.errors and not emu.dingtalk.errors


def report_figures(
    request: pytest.FixtureRequest | None, name: str, figures: dict[str, Any], lines: list[str] | None = None
) -> None:
    """Write a test's measured figures to ``.cache/<name>``, and print ``lines`` past pytest's
    output capture, so the figures show in the terminal without ``-s``."""
    cache = Path(__file__).resolve().parents[2] / ".cache"
    cache.mkdir(exist_ok=True)
    (cache / name).write_text(json.dumps(figures, indent=2) + "\n")
    if not lines:
        return
    text = "\n".join(lines)
    capman = request.config.pluginmanager.getplugin("capturemanager") if request is not None else None
    if capman is not None:
        with capman.global_and_fixture_disabled():
            print("\n" + text)
    else:
        print(text)
