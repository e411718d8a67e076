"""Feishu / Lark custom bot fake through requests: token, body signing, keyword, size, rate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from taskwatch_emulator import Emulator, FeishuFake, ManualClock, feishu_sign

TOKEN = "feishu-token-Gh2Jk3Lm4Nb5Vc6X"
SECRET = "feishu-secret-Qw1Er2Ty3Ui4Op5A"
SUCCESS = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Emulator]:
    with Emulator(feishu_token=TOKEN, feishu_secret=SECRET, clock=clock) as e:
        yield e
    assert not e.feishu.errors and not e.lark.errors


@pytest.fixture
def feishu(emu: Emulator) -> FeishuFake:
    return emu.feishu


def card(content: str, title: str = "taskwatch") -> dict[str, Any]:
    return {
        "msg_type": "interactive",
        "card": {
            "header": {"template": "red", "title": {"tag": "plain_text", "content": title}},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": content}}],
        },
    }


def signed(msg: dict[str, Any], ts: int | str, secret: str = SECRET) -> dict[str, Any]:
    return {"timestamp": ts, "sign": feishu_sign(secret, ts), **msg}


def post(fake: FeishuFake, body: Any, *, token: str = TOKEN, timeout: float = 2) -> requests.Response:
    url = f"{fake.endpoint}/open-apis/bot/v2/hook/{token}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=timeout)


def send(fake: FeishuFake, msg: dict[str, Any] | None = None, **kw: Any) -> requests.Response:
    stamp = int(fake.auth_clock())
    return post(fake, signed(card("hello") if msg is None else msg, str(stamp)), **kw)


def code(r: requests.Response) -> int:
    assert r.status_code == 200
    return int(r.json()["code"])


def test_sign_is_hmac_keyed_by_the_string_to_sign_over_an_empty_message() -> None:
    expected = hmac.new(b"1700000000\nsec", b"", hashlib.sha256).digest()
    assert feishu_sign("sec", 1700000000) == base64.b64encode(expected).decode() == feishu_sign("sec", "1700000000")
    assert (
        feishu_sign("sec", 1700000000)
        != base64.b64encode(hmac.new(b"sec", b"1700000000\nsec", hashlib.sha256).digest()).decode()
    )  # DingTalk's orientation is not Feishu's


def test_signed_card_accepted_and_recorded(feishu: FeishuFake) -> None:
    seen: list[dict[str, Any]] = []
    feishu.on_message = seen.append
    content = "**recall** 91 <at id=ou_abc></at> <at id=all></at>"
    r = send(feishu, card(content))
    assert r.json() == SUCCESS
    assert feishu.wait_for(1, timeout=0.1) == seen == feishu.messages
    assert feishu.messages[0]["card"] == card(content)["card"]
    assert {"timestamp", "sign"} <= feishu.messages[0].keys()
    assert feishu.texts() == ["taskwatch\n" + content]
    assert feishu.mentions() == ["ou_abc", "all"]


def test_integer_timestamp_and_text_and_post(feishu: FeishuFake) -> None:
    stamp = int(feishu.auth_clock())
    text = {"msg_type": "text", "content": {"text": 'hi <at user_id="ou_t1">Tom</at>'}}
    assert code(post(feishu, signed(text, stamp))) == 0
    rich = {
        "msg_type": "post",
        "content": {"post": {"zh_cn": {"title": "t", "content": [[{"tag": "at", "user_id": "ou_p1"}]]}}},
    }
    assert code(post(feishu, signed(rich, stamp))) == 0
    assert feishu.mentions() == ["ou_t1", "ou_p1"]


def test_at_outside_lark_md_pings_nobody(feishu: FeishuFake) -> None:
    assert code(send(feishu, card("plain", title="<at id=ou_title></at>"))) == 0
    assert feishu.mentions() == []


def test_lark_is_a_second_bot(emu: Emulator) -> None:
    assert emu.lark_webhook != emu.feishu_webhook and "/open-apis/bot/v2/hook/" in emu.lark_webhook
    assert code(requests.post(emu.lark_webhook, json=card("unsigned"), timeout=2)) == 0  # no lark secret
    assert code(requests.post(emu.feishu_webhook, json=card("unsigned"), timeout=2)) == 19021
    assert len(emu.lark.messages) == 1 and emu.feishu.messages == []


def test_bad_token(feishu: FeishuFake) -> None:
    r = send(feishu, token=TOKEN + "x")
    assert r.json() == {"code": 19001, "data": {}, "msg": "param invalid: incoming webhook access token invalid"}


def test_sign_off_by_one_character(feishu: FeishuFake) -> None:
    stamp = str(int(feishu.auth_clock()))
    msg = signed(card("x"), stamp)
    last = msg["sign"][-2]
    msg["sign"] = msg["sign"][:-2] + ("A" if last != "A" else "B") + msg["sign"][-1]
    r = post(feishu, msg)
    assert r.json()["code"] == 19021
    assert r.json()["msg"] == "sign match fail or timestamp is not within one hour from current time"
    assert code(post(feishu, signed(card("x"), stamp, secret=SECRET + "x"))) == 19021
    assert code(post(feishu, card("unsigned"))) == 19021
    assert code(post(feishu, {**signed(card("x"), stamp), "timestamp": "12a"})) == 19021
    assert feishu.messages == []


def test_timestamp_window_one_hour(feishu: FeishuFake, clock: ManualClock) -> None:
    now = int(clock())
    clock.set(now)
    assert code(post(feishu, signed(card("x"), now - 3600))) == 0
    assert code(post(feishu, signed(card("x"), now + 3600))) == 0
    assert code(post(feishu, signed(card("x"), now - 3601))) == 19021
    assert code(post(feishu, signed(card("x"), now + 3601))) == 19021


def test_keyword_mode(feishu: FeishuFake) -> None:
    feishu.keyword = "训练"
    assert send(feishu, card("no key word")).json()["code"] == 19024
    assert code(send(feishu, card("x", title="[训练] done"))) == 0  # a title is visible text too


def test_body_size_edge(feishu: FeishuFake) -> None:
    stamp = str(int(feishu.auth_clock()))

    def body(size: int) -> bytes:
        base = json.dumps(signed(card(""), stamp)).encode()
        msg = signed(card("x" * (size - len(base))), stamp)
        out = json.dumps(msg).encode()
        assert len(out) == size
        return out

    assert code(post(feishu, body(20_000))) == 0
    assert post(feishu, body(20_001)).json() == {"code": 9499, "data": {}, "msg": "Bad Request"}
    assert len(feishu.messages) == 1


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        ({"card": {}}, 19002),
        ({"msg_type": "interactive"}, 19002),
        ({"msg_type": "text", "content": {"text": ""}}, 19002),
        ({"msg_type": "post", "content": {}}, 19002),
    ],
)
def test_malformed_messages(feishu: FeishuFake, msg: dict[str, Any], expected: int) -> None:
    assert code(send(feishu, msg)) == expected


def test_not_json_and_refusal_status(feishu: FeishuFake) -> None:
    assert code(post(feishu, b"{not json")) == 9499
    assert code(post(feishu, [1])) == 9499
    feishu.refusal_status = 400
    r = post(feishu, b"{not json")
    assert r.status_code == 400 and r.json()["code"] == 9499


def test_rate_limit_5_per_second_and_100_per_minute(feishu: FeishuFake, clock: ManualClock) -> None:
    assert [code(send(feishu)) for _ in range(6)] == [0] * 5 + [11232]
    assert send(feishu).json()["msg"] == "frequency limited"
    clock.advance(1.01)
    # 95 more, four every 1.01 s: under 5 a second, and the minute fills at 100.
    codes = []
    for i in range(95):
        if i % 4 == 0:
            clock.advance(1.01)
        codes.append(code(send(feishu)))
    assert codes == [0] * 95
    clock.advance(1.01)
    assert code(send(feishu)) == 11232  # 100 in the last minute
    clock.advance(60)
    assert code(send(feishu)) == 0
    assert len(feishu.messages) == 101


def test_fault_errcode_and_status(feishu: FeishuFake) -> None:
    feishu.inject("errcode", errcode=11232)
    feishu.inject("status", status=503)
    feishu.inject("malformed")
    assert send(feishu).json() == {"code": 11232, "data": {}, "msg": "frequency limited"}
    assert send(feishu).status_code == 503
    with pytest.raises(requests.JSONDecodeError):
        send(feishu).json()
    assert code(send(feishu)) == 0
    assert len(feishu.messages) == 1 and feishu.count("/open-apis/bot/v2/hook/") == 4


def test_fault_timeout(feishu: FeishuFake) -> None:
    feishu.inject("timeout", seconds=0.3)
    with pytest.raises(requests.Timeout):
        send(feishu, timeout=0.1)
    assert feishu.messages == []
