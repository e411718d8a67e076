"""Standard Webhooks receiver fake through requests: headers, signature list, window, dedup."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from taskwatch_emulator import Delivery, Emulator, ManualClock, WebhookReceiverFake, standard_webhook_sign

SECRET = "whsec_" + base64.b64encode(b"webhook-key-Xc3Vb4Nm5Aq6Sw7Ed8").decode()
OTHER = "whsec_" + base64.b64encode(b"another-key-Rf9Tg0Yh1Uj2Ik3Ol4").decode()


@pytest.fixture
def hook(clock: ManualClock) -> Iterator[WebhookReceiverFake]:
    with Emulator(webhook_secret=SECRET, clock=clock) as emu:
        assert emu.webhook_url == emu.webhook.endpoint + "/hooks/taskwatch"
        yield emu.webhook
    assert not emu.webhook.errors


def payload(text: str = "hello") -> dict[str, Any]:
    return {"id": "d1", "source": "taskwatch", "text": text, "changes": []}


def send(
    fake: WebhookReceiverFake,
    body: Any = None,
    *,
    msg_id: str = "msg_1",
    ts: int | None = None,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
    signature: str | None = None,
    path: str = "/hooks/taskwatch",
    timeout: float = 2,
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(payload() if body is None else body).encode()
    stamp = str(int(fake.auth_clock()) if ts is None else ts)
    sent = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": signature or standard_webhook_sign(secret, msg_id, stamp, data),
    }
    sent.update(headers or {})
    return requests.post(fake.endpoint + path, data=data, headers=sent, timeout=timeout)


def test_published_vector() -> None:
    sig = standard_webhook_sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'
    )
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signed_delivery_accepted_and_recorded(hook: WebhookReceiverFake) -> None:
    seen: list[dict[str, Any]] = []
    hook.on_message = seen.append
    r = send(hook, payload("task done"), msg_id="dig-1")
    assert r.status_code == 204 and r.content == b""
    assert hook.wait_for(1, timeout=0.1) == seen == hook.messages == [payload("task done")]
    assert hook.deliveries == [Delivery("dig-1", int(hook.auth_clock()), payload("task done"))]
    assert hook.texts() == ["task done"] and hook.ids() == ["dig-1"] and hook.seen_ids == {"dig-1"}


def test_success_status_is_configurable(hook: WebhookReceiverFake) -> None:
    hook.success_status = 200
    assert send(hook).status_code == 200


def test_any_v1_entry_of_the_list_accepts(hook: WebhookReceiverFake) -> None:
    data = json.dumps(payload()).encode()
    stamp = str(int(hook.auth_clock()))
    good = standard_webhook_sign(SECRET, "m", stamp, data)
    rotated = f"{standard_webhook_sign(OTHER, 'm', stamp, data)} v1a,c2lnbmF0dXJl {good}"
    assert send(hook, data, msg_id="m", signature=rotated).status_code == 204
    assert send(hook, data, msg_id="m2", secret=OTHER).status_code == 401


def test_signature_off_by_one_character(hook: WebhookReceiverFake) -> None:
    data = json.dumps(payload()).encode()
    stamp = str(int(hook.auth_clock()))
    sig = standard_webhook_sign(SECRET, "m", stamp, data)
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert send(hook, data, msg_id="m", signature=flipped).status_code == 401
    assert send(hook, data, msg_id="m", signature=sig.replace("v1,", "v2,")).status_code == 401
    # The signature covers the body and the id as sent.
    assert send(hook, data + b" ", msg_id="m", signature=sig).status_code == 401
    assert send(hook, data, msg_id="m-other", signature=sig).status_code == 401
    assert hook.messages == []


def test_timestamp_window_five_minutes(hook: WebhookReceiverFake, clock: ManualClock) -> None:
    now = int(clock())
    clock.set(now)
    assert send(hook, msg_id="a", ts=now - 300).status_code == 204
    assert send(hook, msg_id="b", ts=now + 300).status_code == 204
    assert send(hook, msg_id="c", ts=now - 301).status_code == 401
    assert send(hook, msg_id="d", ts=now + 301).status_code == 401
    assert hook.ids() == ["a", "b"]


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_400(hook: WebhookReceiverFake, missing: str) -> None:
    assert send(hook, headers={missing: ""}).status_code == 400


def test_bad_timestamp_and_body(hook: WebhookReceiverFake) -> None:
    assert send(hook, headers={"webhook-timestamp": "1.5e9"}).status_code == 400
    assert send(hook, b"{not json").status_code == 400
    assert send(hook, [1, 2]).status_code == 400
    assert hook.messages == []


def test_duplicate_ids_are_counted_not_recorded(hook: WebhookReceiverFake) -> None:
    assert [send(hook, msg_id=i).status_code for i in ("x", "y", "x", "x")] == [204] * 4
    assert hook.ids() == ["x", "y"] and hook.duplicates == 2 and hook.seen_ids == {"x", "y"}


def test_wrong_path_or_method(hook: WebhookReceiverFake) -> None:
    assert send(hook, path="/hooks/other").status_code == 404
    assert requests.get(hook.endpoint + "/hooks/taskwatch", timeout=2).status_code == 405


def test_custom_path_and_bad_secret(clock: ManualClock) -> None:
    fake = WebhookReceiverFake(SECRET, clock, path="/in")
    fake.start()
    try:
        assert send(fake, path="/in").status_code == 204
    finally:
        fake.stop()
    with pytest.raises(ValueError):
        WebhookReceiverFake("whsec_not*base64", clock)


def test_faults(hook: WebhookReceiverFake) -> None:
    hook.inject("status", status=503)
    hook.inject("late", seconds=0.2)
    hook.inject("reset")
    assert send(hook, msg_id="f1").status_code == 503
    with pytest.raises(requests.Timeout):
        send(hook, msg_id="f2", timeout=0.1)  # carried out, answer lost
    with pytest.raises(requests.ConnectionError):
        send(hook, msg_id="f3")
    assert send(hook, msg_id="f2").status_code == 204  # the sender's retry is a duplicate
    assert hook.ids() == ["f2"] and hook.duplicates == 1
