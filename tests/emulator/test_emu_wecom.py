"""WeCom group robot fake through requests: key, message types, byte budgets, rate window."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from taskwatch_emulator import Emulator, ManualClock, WeComFake

KEY = "wecom-key-Rt5Yu6Io7Pa8Sd9F"


@pytest.fixture
def wecom(clock: ManualClock) -> Iterator[WeComFake]:
    with Emulator(wecom_key=KEY, clock=clock) as emu:
        yield emu.wecom
    assert not emu.wecom.errors


def md(content: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": content}}


def text(content: str, mobiles: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"content": content}
    if mobiles is not None:
        body["mentioned_mobile_list"] = mobiles
    return {"msgtype": "text", "text": body}


def send(
    fake: WeComFake, body: Any = None, *, key: str = KEY, data: bytes | None = None, timeout: float = 2
) -> requests.Response:
    url = fake.endpoint + "/cgi-bin/webhook/send"
    if data is not None:
        return requests.post(url, params={"key": key}, data=data, timeout=timeout)
    return requests.post(url, params={"key": key}, json=md("hello") if body is None else body, timeout=timeout)


def errcode(r: requests.Response) -> int:
    assert r.status_code == 200  # WeCom refuses with HTTP 200 and an errcode
    return int(r.json()["errcode"])


def test_markdown_accepted_and_recorded(wecom: WeComFake) -> None:
    seen: list[dict[str, Any]] = []
    wecom.on_message = seen.append
    r = send(wecom, md("**任务** done"))
    assert r.json() == {"errcode": 0, "errmsg": "ok"}
    assert wecom.messages == [md("**任务** done")] == seen
    assert wecom.texts() == ["**任务** done"]
    assert wecom.wait_for(1, timeout=0.1) == seen
    assert wecom.mentions() == []


def test_text_with_mentions(wecom: WeComFake) -> None:
    msg = text("failed", ["13800000000", "@all"])
    msg["text"]["mentioned_list"] = ["zhangsan"]
    assert errcode(send(wecom, msg)) == 0
    assert errcode(send(wecom, text("again", ["13900000000"]))) == 0
    assert wecom.mentions() == ["13800000000", "@all", "13900000000"]
    assert wecom.mentioned_users() == ["zhangsan"]
    assert wecom.texts() == ["failed", "again"]


def test_emulator_url(clock: ManualClock) -> None:
    with Emulator(clock=clock) as emu:
        assert "/cgi-bin/webhook/send?key=" in emu.wecom_webhook
        assert errcode(requests.post(emu.wecom_webhook, json=md("x"), timeout=2)) == 0


def test_bad_or_missing_key(wecom: WeComFake) -> None:
    assert send(wecom, key=KEY + "x").json() == {"errcode": 93000, "errmsg": "invalid webhook url"}
    assert errcode(send(wecom, key="")) == 93000
    assert wecom.messages == []


def test_markdown_budget_is_4096_utf8_bytes(wecom: WeComFake) -> None:
    assert errcode(send(wecom, md("x" * 4096))) == 0
    assert errcode(send(wecom, md("x" * 4097))) == 40058
    # 训 is three bytes: 1365 of them plus one byte is 4096 bytes but only 1366 characters.
    assert errcode(send(wecom, md("训" * 1365 + "x"))) == 0
    assert errcode(send(wecom, md("训" * 1365 + "xy"))) == 40058
    assert len(wecom.messages) == 2


def test_text_budget_is_2048_bytes(wecom: WeComFake) -> None:
    assert errcode(send(wecom, text("y" * 2048))) == 0
    assert errcode(send(wecom, text("y" * 2049))) == 40058


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"msgtype": "news", "news": {}}, 40008),
        ({"markdown": {"content": "x"}}, 40008),
        ({"msgtype": "markdown", "markdown": {"content": ""}}, 44004),
        ({"msgtype": "text", "text": {}}, 44004),
        ({"msgtype": "text", "text": {"content": "x", "mentioned_mobile_list": "13800000000"}}, 40035),
        ([md("x")], 40035),
    ],
)
def test_malformed_messages(wecom: WeComFake, body: Any, code: int) -> None:
    assert errcode(send(wecom, body)) == code
    assert wecom.messages == []


def test_not_json(wecom: WeComFake) -> None:
    assert errcode(send(wecom, data=b"{not json")) == 40035


def test_rate_limit_20_per_rolling_minute(wecom: WeComFake, clock: ManualClock) -> None:
    codes = [errcode(send(wecom)) for _ in range(21)]
    assert codes == [0] * 20 + [45009]
    clock.advance(59)
    assert errcode(send(wecom)) == 45009
    clock.advance(2)
    assert errcode(send(wecom)) == 0
    assert len(wecom.messages) == 21


def test_wrong_path_or_method(wecom: WeComFake) -> None:
    assert requests.post(wecom.endpoint + "/cgi-bin/webhook/other", params={"key": KEY}, timeout=2).status_code == 404
    assert requests.get(wecom.endpoint + "/cgi-bin/webhook/send", params={"key": KEY}, timeout=2).status_code == 404


@pytest.mark.parametrize(("code", "msg"), [(-1, "system busy"), (45009, "api freq out of limit")])
def test_fault_errcode(wecom: WeComFake, code: int, msg: str) -> None:
    wecom.inject("errcode", errcode=code)
    assert send(wecom).json() == {"errcode": code, "errmsg": msg}
    assert errcode(send(wecom)) == 0
    assert len(wecom.messages) == 1


def test_fault_status_malformed_timeout_reset(wecom: WeComFake) -> None:
    wecom.inject("status", status=502)
    wecom.inject("malformed")
    wecom.inject("timeout", seconds=0.3)
    wecom.inject("reset")
    assert send(wecom).status_code == 502
    with pytest.raises(requests.JSONDecodeError):
        send(wecom).json()
    with pytest.raises(requests.Timeout):
        send(wecom, timeout=0.1)
    with pytest.raises(requests.ConnectionError):
        send(wecom)
    assert wecom.messages == [] and wecom.count("/cgi-bin/webhook/send") == 4
