"""DingTalk robot fake through requests, signing as the robot documentation describes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import requests
from helpers.creds import DINGTALK_SECRET, WEBHOOK_TOKEN

from taskwatch_emulator import Emulator, ManualClock, dingtalk_sign


def md(text: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": "taskwatch", "text": text}}


def send(
    emu: Emulator,
    body: Any = None,
    *,
    secret: str | None = DINGTALK_SECRET,
    ts: float | None = None,
    token: str = WEBHOOK_TOKEN,
    data: bytes | None = None,
    timeout: float = 2,
) -> requests.Response:
    params: dict[str, str] = {"access_token": token}
    if secret is not None:
        stamp = int((emu.clock() if ts is None else ts) * 1000)
        # Raw base64 in params=: requests URL-encodes it exactly once.
        params.update(timestamp=str(stamp), sign=dingtalk_sign(secret, stamp))
    url = emu.dingtalk.endpoint + "/robot/send"
    if data is not None:
        return requests.post(
            url, params=params, data=data, timeout=timeout, headers={"Content-Type": "application/json"}
        )
    return requests.post(url, params=params, json=md("hello") if body is None else body, timeout=timeout)


def errcode(r: requests.Response) -> int:
    assert r.status_code == 200  # DingTalk refuses with HTTP 200 and an errcode
    return int(r.json()["errcode"])


def test_signed_message_accepted_and_recorded(emu: Emulator) -> None:
    seen: list[dict[str, Any]] = []
    emu.dingtalk.on_message = seen.append
    r = send(emu, md("task **done**"))
    assert r.json() == {"errcode": 0, "errmsg": "ok"}
    assert emu.dingtalk.messages == [md("task **done**")] == seen
    assert emu.dingtalk.texts() == ["taskwatch\ntask **done**"]
    assert emu.dingtalk.wait_for(1, timeout=0.1) == seen


def test_webhook_property_works(emu: Emulator) -> None:
    assert emu.dingtalk_webhook.endswith(f"/robot/send?access_token={WEBHOOK_TOKEN}")
    emu.dingtalk.secret = None  # an unsigned robot
    assert errcode(requests.post(emu.dingtalk_webhook, json=md("x"), timeout=2)) == 0


def test_bad_sign_and_double_encoding(emu: Emulator) -> None:
    assert errcode(send(emu, secret=DINGTALK_SECRET + "x")) == 310000
    assert errcode(send(emu, secret=None)) == 310000  # signing required
    stamp = int(emu.clock() * 1000)
    sign = quote(dingtalk_sign(DINGTALK_SECRET, stamp), safe="")  # encoded here and again by requests
    r = requests.post(
        emu.dingtalk.endpoint + "/robot/send",
        json=md("x"),
        timeout=2,
        params={"access_token": WEBHOOK_TOKEN, "timestamp": str(stamp), "sign": sign},
    )
    assert errcode(r) == 310000
    assert emu.dingtalk.messages == []


def test_stale_timestamp(emu: Emulator, clock: ManualClock) -> None:
    assert errcode(send(emu, ts=clock() - 3601)) == 310000
    assert errcode(send(emu, ts=clock() - 3500)) == 0


def test_keyword_required(clock: ManualClock) -> None:
    with Emulator(dingtalk_token="t", keyword="训练", clock=clock) as emu:
        assert errcode(send(emu, md("no key word"), secret=None, token="t")) == 310000
        assert errcode(send(emu, md("[训练] done"), secret=None, token="t")) == 0
        assert emu.env()["DINGTALK_KEYWORD"] == "训练"


def test_rate_limit_20_per_rolling_minute(emu: Emulator, clock: ManualClock) -> None:
    codes = [errcode(send(emu)) for _ in range(21)]
    assert codes == [0] * 20 + [130101]
    clock.advance(61)
    assert errcode(send(emu)) == 0
    assert len(emu.dingtalk.messages) == 21


def test_size_limit(emu: Emulator) -> None:
    assert errcode(send(emu, md("x" * 20_100))) == 460101
    assert errcode(send(emu, md("x" * 19_000))) == 0


def test_bad_token(emu: Emulator) -> None:
    assert errcode(send(emu, token="nope")) == 300001


def test_not_json(emu: Emulator) -> None:
    assert errcode(send(emu, data=b"{not json")) == 40035


@pytest.mark.parametrize("code", [-1, 130101])
def test_fault_errcode(emu: Emulator, code: int) -> None:
    emu.dingtalk.inject("errcode", errcode=code)
    assert errcode(send(emu)) == code
    assert errcode(send(emu)) == 0
    assert len(emu.dingtalk.messages) == 1


def test_fault_status_malformed_timeout_reset(emu: Emulator) -> None:
    emu.dingtalk.inject("status", status=500)
    emu.dingtalk.inject("malformed")
    emu.dingtalk.inject("timeout", seconds=0.3)
    emu.dingtalk.inject("reset")
    assert send(emu).status_code == 500
    with pytest.raises(requests.JSONDecodeError):
        send(emu).json()
    with pytest.raises(requests.Timeout):
        send(emu, timeout=0.1)
    with pytest.raises(requests.ConnectionError):
        send(emu)
    assert emu.dingtalk.messages == [] and emu.dingtalk.count("/robot/send") == 4
