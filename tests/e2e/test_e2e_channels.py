"""Delivery to several channels, end to end: the real handler against every platform's fake.

Routing by ``[[watch]]`` and ``kinds``; owners pinged on urgent changes only, in each platform's
own form; a failing channel told to the others once (``channel_failing``, its cause masked) and
again when it delivers (``channel_ok``), its pending changes then sent oldest first in one
digest; rate limits never retried within the tick; WeCom's ping after its markdown; the webhook's
``webhook-id`` kept across a retried delivery; 300 changes within each platform's limit; and no
credential of any channel in a log line, an answer, the state or a message, even when a platform
echoes it in an error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from channels import (
    OWNER,
    TYPES,
    Spec,
    Watch,
    configure,
    digests,
    fake,
    fake_errors,
    forget_secrets,
    more,
    pinged,
    platform_secrets,
    text_of,
    told,
    told_flat,
)
from conftest import Cloud
from helpers.creds import HTTP_TOKEN
from helpers.fc import Context, http_event

from taskwatch.fc import handle
from taskwatch.redact import PARTIAL_RUN
from taskwatch_emulator import Emulator, Step

APP, FN = "search_app", "ranker"
MAIN = f"{APP}/{FN}/main"
# A second id per platform, named by the channel itself (the watches add their owners to it).
CHANNEL_MENTION = {
    "dingtalk": "13700000001",
    "wecom": "13700000002",
    "feishu": "ou_channelFeishu",
    "lark": "ou_channelLark",
    "slack": "U0CHANNELMN",
}

MASKED = re.compile(r"\*+\(\d+ chars\)")

pytestmark = pytest.mark.parametrize("cloud", ["py312"], indirect=True)


@pytest.fixture(autouse=True)
def isolated(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Any:
    forget_secrets(monkeypatch)
    yield
    assert not fake_errors(cloud.emu)


def next_of(kind: str, step: int = 1) -> str:
    return TYPES[(TYPES.index(kind) + step) % len(TYPES)]


def mention_of(kind: str) -> tuple[str, ...]:
    return (CHANNEL_MENTION[kind],) if kind in CHANNEL_MENTION else ()  # a webhook pings nobody


def owner_of(kind: str) -> tuple[str, ...]:
    return (OWNER[kind],) if kind in OWNER else ()


def pingable_owners(kind: str) -> tuple[str, ...]:
    """The owners a platform can ping: mobiles on DingTalk and WeCom, open ids on Feishu and Lark."""
    if kind in ("dingtalk", "wecom"):
        return (OWNER["dingtalk"], OWNER["wecom"])
    if kind in ("feishu", "lark"):
        return (OWNER["feishu"], OWNER["lark"])
    return (OWNER[kind],) if kind in OWNER else ()


def tick_failing(cloud: Cloud) -> str:
    with pytest.raises(RuntimeError) as err:
        cloud.tick()
    cause = str(err.value)
    assert cause and "\n" not in cause and "Traceback" not in cause
    return cause


def echo_fault(emu: Emulator, kind: str, times: int | None = None) -> None:
    """The platform fails with an error text that echoes its own credentials, raw and URL-encoded."""
    said = "denied for " + " ".join(f"{s} {quote(s, safe='')}" for s in platform_secrets(emu)[kind])
    target = fake(emu, kind)
    if kind in ("dingtalk", "wecom"):
        target.inject("errcode", times, errcode=-2, message=said)
    elif kind in ("feishu", "lark"):
        target.inject("errcode", times, errcode=99991, message=said)
    elif kind == "slack":
        target.inject("errcode", times, message=said)  # HTTP 400 with the text
    else:
        target.inject("status", times, status=500, code=said)


def leaks(text: str, secrets: list[str]) -> list[str]:
    """The secrets of which ``text`` holds any PARTIAL_RUN consecutive characters."""
    return [
        s
        for s in secrets
        if any(s[i : i + PARTIAL_RUN] in text for i in range(len(s) - PARTIAL_RUN + 1)) or quote(s, safe="") in text
    ]


# --- routing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TYPES)
def test_watches_route_their_targets_and_kinds_to_their_channels(cloud: Cloud, tmp_path: Path, kind: str) -> None:
    other = next_of(kind)
    a, b = f"{APP}/{FN}/a", f"{APP}/{FN}/b"
    channels = [
        Spec(kind, name="team-a", mention=mention_of(kind)),
        Spec(other, name="team-b", kinds=("watching", "progress", "status:success")),
    ]
    watches = [
        Watch((a,), channels=("team-a",), mention=owner_of(kind), kinds=("watching", "status")),
        Watch((b,), channels=("team-b",), mention=owner_of(other)),
    ]
    configure(cloud, tmp_path / "taskwatch.toml", channels, watches)
    os_ = cloud.emu.opensearch
    task_a = os_.add_task(APP, FN, "a", 1, [Step("running", 10)])
    task_b = os_.add_task(APP, FN, "b", 1, [Step("running", 10)])
    cloud.tick()
    task_a.steps, task_b.steps = [Step("running", 60)], [Step("running", 60)]
    cloud.tick()  # progress: the watch of a leaves it out; b's channel takes it
    os_.set_task(APP, FN, "a", 1, "failed", 60)
    os_.set_task(APP, FN, "b", 1, "success", 100)
    cloud.tick()  # a's failure is urgent: its owners are pinged; b's success is not
    os_.add_task(APP, FN, "a", 2, [Step("running", 5)])
    os_.add_task(APP, FN, "b", 2, [Step("running", 5)])
    answer = cloud.tick()  # new runs: neither filter lets them through, and they are still recorded

    assert sorted(c["kind"] for c in answer["changes"]) == ["new_run", "new_run"]
    assert all(c["channels"] == {} for c in answer["changes"])
    assert cloud.state()["targets"][f"{a}@latest"]["generation"] == "2"
    assert told(cloud.emu, kind) == [[(f"{a}@latest", "1", "watching", "")], [(f"{a}@latest", "1", "status", "failed")]]
    assert told(cloud.emu, other) == [
        [(f"{b}@latest", "1", "watching", "")],
        [(f"{b}@latest", "1", "progress", "50")],
        [(f"{b}@latest", "1", "status", "success")],
    ]
    assert pinged(cloud.emu, kind) == [[], [*mention_of(kind), *owner_of(kind)]]
    assert not any(pinged(cloud.emu, other))


def test_owners_are_pinged_in_each_platforms_own_form_on_urgent_changes_only(cloud: Cloud, tmp_path: Path) -> None:
    """One watch to all six channels, its owners in every platform's form: each platform pings the
    ones it can, as it can (DingTalk: atMobiles and @mobile; WeCom: a text part after the markdown;
    Feishu / Lark: <at id=…>; Slack: <@U…>), and only on the failure, not on the progress."""
    owners = tuple(OWNER.values())
    configure(cloud, tmp_path / "taskwatch.toml", [Spec(k) for k in TYPES], [Watch((MAIN,), mention=owners)])
    task = cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.tick()
    task.steps = [Step("running", 30)]
    cloud.tick()
    cloud.emu.opensearch.set_task(APP, FN, "main", 7, "failed", 30)
    cloud.tick()

    for kind in TYPES:
        assert pinged(cloud.emu, kind) == [[], [], list(pingable_owners(kind))], kind
        assert [d[-1][2:] for d in told(cloud.emu, kind)] == [
            ("watching", ""),
            ("progress", "25"),
            ("status", "failed"),
        ]
    assert [m["msgtype"] for m in cloud.emu.wecom.messages] == ["markdown", "markdown", "markdown", "text"]


# --- a failing channel ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TYPES)
def test_a_failing_channel_is_told_to_the_others_and_then_gets_what_it_owes(
    cloud: Cloud, tmp_path: Path, kind: str
) -> None:
    others = [next_of(kind), next_of(kind, 2)]
    configure(cloud, tmp_path / "taskwatch.toml", [Spec(k) for k in (kind, *others)], [], error_ticks=2)
    cloud.monkeypatch.setenv("TASKWATCH_TARGETS", MAIN)
    task = cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.tick()
    echo_fault(cloud.emu, kind)
    causes = []
    for progress in (30, 55, 80):  # one progress change a tick, each while the channel fails
        task.steps = [Step("running", progress)]
        causes.append(tick_failing(cloud))
    owed = cloud.state()["channels"][kind]
    assert (len(owed["pending"]), owed["failures"], owed["alerted"]) == (3, 3, True)
    fake(cloud.emu, kind).faults.clear()
    cloud.emu.opensearch.set_task(APP, FN, "main", 7, "success", 100)
    cloud.tick()
    assert cloud.tick()["changes"] == []

    key = f"{MAIN}@latest"
    for other in others:
        got = told(cloud.emu, other)
        alerts = [d for d in got if d and d[0][0].startswith("channel:")]
        assert alerts == [
            [(f"channel:{kind}", None, "channel_failing", "")],
            [(f"channel:{kind}", None, "channel_ok", "")],
        ]
        assert got.index(alerts[0]) == 3 and got.index(alerts[1]) == 6  # after the error_ticks-th failure
        raw = [json.dumps(m, ensure_ascii=False) for m in digests(cloud.emu, other)]
        # The cause names the channel, and its echoed credentials are masked ("whs***(50 chars)").
        assert f"{kind}: " in text_of(other, digests(cloud.emu, other)[3]) and MASKED.search(raw[3]), raw[3]
        assert not leaks("\n".join(raw), platform_secrets(cloud.emu)[kind])
    changes = [d for d in told(cloud.emu, others[0]) if d and not d[0][0].startswith("channel:")][1:]
    assert [c for d in changes for c in d] == [
        (key, "7", "progress", "25"),
        (key, "7", "progress", "50"),
        (key, "7", "progress", "75"),
        (key, "7", "status", "success"),
    ]
    # The failing channel: its "now watching", then all it owed, oldest first, in one digest.
    assert told(cloud.emu, kind) == [[(key, "7", "watching", "")], [c for d in changes for c in d]]
    assert "channels" not in cloud.state() or not cloud.state()["channels"]
    assert all(not leaks(cause, platform_secrets(cloud.emu)[kind]) for cause in causes)


RATE_LIMITS = {
    # type: (the fake's own window to close, the answer it then gives)
    "dingtalk": ("per_minute", "130101"),
    "wecom": ("per_minute", "45009"),
    "feishu": ("per_second", "11232"),
    "lark": ("per_second", "11232"),
    "slack": ("per_minute", "HTTP 429"),
}


@pytest.mark.parametrize("kind", list(RATE_LIMITS))
def test_a_rate_limit_answer_is_not_retried_in_the_tick(cloud: Cloud, tmp_path: Path, kind: str) -> None:
    configure(cloud, tmp_path / "taskwatch.toml", [Spec(kind)], [])
    cloud.monkeypatch.setenv("TASKWATCH_TARGETS", MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.tick()
    window, answer = RATE_LIMITS[kind]
    target = fake(cloud.emu, kind)
    limit = getattr(target, window)
    setattr(target, window, 0)  # the platform's own limit is reached
    cloud.emu.opensearch.set_task(APP, FN, "main", 7, "failed", 10)
    target.reset_calls()

    cause = tick_failing(cloud)

    assert "rate limit" in cause and answer in cause, cause
    assert target.count(method="POST") == 1  # one request: a rate limit lasts longer than a tick
    assert len(cloud.state()["channels"][kind]["pending"]) == 1
    setattr(target, window, limit)
    cloud.tick()
    assert told(cloud.emu, kind) == [
        [(f"{MAIN}@latest", "7", "watching", "")],
        [(f"{MAIN}@latest", "7", "status", "failed")],
    ]
    assert "channels" not in cloud.state() or not cloud.state()["channels"]


# --- per platform --------------------------------------------------------------------------------


def test_a_wecom_urgent_digest_is_markdown_then_a_text_that_pings(
    cloud: Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mobiles = ["13911112222", "@all"]
    configure(cloud, tmp_path / "taskwatch.toml", [Spec("wecom", mention=tuple(mobiles))], [Watch((MAIN,))])
    wecom = cloud.emu.wecom
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.tick()
    cloud.emu.opensearch.set_task(APP, FN, "main", 7, "failed", 10)
    cloud.tick()

    kinds = [m["msgtype"] for m in wecom.messages]
    assert kinds == ["markdown", "markdown", "text"]  # not urgent: no ping; urgent: the ping follows
    ping = wecom.messages[2]["text"]
    assert ping["mentioned_mobile_list"] == mobiles and "1 urgent change" in ping["content"]
    assert wecom.mentions() == mobiles
    assert "running → **failed**" in wecom.messages[1]["markdown"]["content"]

    # The ping fails after the markdown was accepted: the digest reached the chat and is not sent again.
    def fail_the_ping(message: dict[str, Any]) -> None:
        if message["msgtype"] == "markdown":
            wecom.inject("errcode", 2, errcode=-1)  # the ping and its retry

    wecom.on_message = fail_the_ping
    cloud.emu.opensearch.add_task(APP, FN, "main", 8, [Step("failed", 0)])
    answer = cloud.tick()
    wecom.on_message = None
    assert [c["kind"] for c in answer["changes"]] == ["new_run", "status"] and answer["sent"] == 2
    assert '"event": "mention_failed"' in capsys.readouterr().err
    assert [m["msgtype"] for m in wecom.messages] == [*kinds, "markdown"]
    assert cloud.tick()["changes"] == []
    assert len(wecom.messages) == 4


def test_a_webhook_redelivery_keeps_its_id_and_the_receiver_drops_it(cloud: Cloud, tmp_path: Path) -> None:
    configure(cloud, tmp_path / "taskwatch.toml", [Spec("webhook"), Spec("dingtalk")], [Watch((MAIN,))])
    receiver = cloud.emu.webhook
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    # The receiver takes the delivery but its answer never comes: the retry within the send carries
    # the same webhook-id (and a fresh, valid signature), and the receiver drops it as seen.
    receiver.inject("late", 1, seconds=0.4)
    cloud.tick()
    assert receiver.count(method="POST") == 2 and receiver.duplicates == 1
    assert len(receiver.deliveries) == 1

    # Both attempts of a tick lost: the next tick delivers the same digest, under the same id.
    cloud.emu.opensearch.set_task(APP, FN, "main", 7, "failed", 10)
    receiver.inject("late", 2, seconds=0.4)
    assert "Webhook timed out" in tick_failing(cloud)
    cloud.tick()
    assert receiver.count(method="POST") == 5 and receiver.duplicates == 3
    assert [len(m["changes"]) for m in receiver.messages] == [1, 1]
    for delivery in receiver.deliveries:  # the header's id is the body's: one id per digest
        assert delivery.id == delivery.message["id"] and len(delivery.id) == 32
    assert len(set(receiver.ids())) == 2
    assert told_flat(cloud.emu, "webhook") == told_flat(cloud.emu, "dingtalk")
    assert len(cloud.emu.dingtalk.messages) == 2  # the other channel got each change once


def test_a_webhook_signature_the_receiver_cannot_verify_is_refused(cloud: Cloud, tmp_path: Path) -> None:
    """The receiver's check is real: a digest signed with another secret is refused (401) and
    waits; signed with the right one it is accepted."""
    configure(cloud, tmp_path / "taskwatch.toml", [Spec("webhook")], [Watch((MAIN,))])
    receiver = cloud.emu.webhook
    right = receiver.secret
    receiver.secret = "whsec_" + "b3RoZXIta2V5LW9mLWFub3RoZXItcmVjZWl2ZXI="
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    assert "HTTP 401" in tick_failing(cloud)
    receiver.secret = right
    cloud.tick()
    assert [d.message["changes"][0]["kind"] for d in receiver.deliveries] == ["watching"]


# --- limits --------------------------------------------------------------------------------------


def test_300_changes_fit_each_platforms_limit(cloud: Cloud, tmp_path: Path) -> None:
    instances = [f"i{n:03d}" for n in range(300)]
    targets = tuple(f"{APP}/{FN}/{i}" for i in instances)
    specs = [Spec(k, mention=mention_of(k)) for k in TYPES]
    configure(cloud, tmp_path / "taskwatch.toml", specs, [Watch(targets, mention=tuple(OWNER.values()))])
    # The limits are the platforms', not the store's: with the state in a local directory the 3,600
    # claims and marks of 300 changes to six channels take a fraction of the OSS fake's 12 seconds.
    cloud.monkeypatch.setenv("TASKWATCH_STATE", f"file://{tmp_path / 'state'}")
    for instance in instances:
        cloud.emu.opensearch.add_task(APP, FN, instance, 1, [Step("running", 10)])
    cloud.tick()
    errors = {"errors": [f'worker {n} lost: CUDA out of memory <&> "quoted"' for n in range(30)], "auc": 0.5}
    for instance in instances:
        cloud.emu.opensearch.set_task(APP, FN, instance, 1, "failed", 40, errors)
    cloud.tick()

    for kind in TYPES:
        sent = digests(cloud.emu, kind)
        assert len(sent) == 2, kind  # each accepted whole: the fakes refuse anything over the limit
        for message, kind_told in zip(sent, ("watching", "status"), strict=True):
            shown = [c for c in told(cloud.emu, kind)[sent.index(message)] if c[2] == kind_told]
            assert len(shown) + more(cloud.emu, kind, message) == 300, (kind, len(shown))
            assert len(shown) == 300 if kind == "webhook" else 0 < len(shown) < 300, (kind, len(shown))
        assert pinged(cloud.emu, kind)[-1] == [*mention_of(kind), *pingable_owners(kind)], kind
    sizes = {
        "dingtalk": len(json.dumps(digests(cloud.emu, "dingtalk")[1], ensure_ascii=False).encode()),
        "wecom": len(digests(cloud.emu, "wecom")[1]["markdown"]["content"].encode()),
        "feishu": len(json.dumps(digests(cloud.emu, "feishu")[1], ensure_ascii=False).encode()),
        "slack": len(digests(cloud.emu, "slack")[1]["blocks"]),
    }
    assert sizes["dingtalk"] <= 20_000 and sizes["wecom"] <= 4_096 and sizes["feishu"] < 20_000
    assert sizes["slack"] <= 50
    assert all(len(b["text"]["text"]) <= 3_000 for b in digests(cloud.emu, "slack")[1]["blocks"])


# --- secrets -------------------------------------------------------------------------------------


def test_no_channel_credential_shows_anywhere_even_when_a_platform_echoes_it(
    cloud: Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(cloud, tmp_path / "taskwatch.toml", [Spec(k) for k in TYPES], [Watch((MAIN,))], error_ticks=1)
    cloud.monkeypatch.setenv("TASKWATCH_HTTP_TOKEN", HTTP_TOKEN)
    secrets = [s for values in platform_secrets(cloud.emu).values() for s in values]
    first, second = list(TYPES[:3]), list(TYPES[3:])
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.tick()
    for kind in first:
        echo_fault(cloud.emu, kind)
    cloud.emu.opensearch.set_task(APP, FN, "main", 7, "failed", 10)
    # This tick through POST /check: its answer carries every failing channel's cause.
    check = handle(http_event("POST", "/check"), Context(request_id="check"), cloud.wiring)
    cloud.clock.advance(300)
    assert check["statusCode"] == 502
    for kind in first:
        fake(cloud.emu, kind).faults.clear()
    for kind in second:
        echo_fault(cloud.emu, kind)
    cloud.emu.opensearch.add_task(APP, FN, "main", 8, [Step("running", 5)])
    causes = [tick_failing(cloud)]
    # While they fail, the state and GET /status hold each one's last error.
    failing_state = json.dumps(cloud.state(), ensure_ascii=False)
    status = handle(http_event("GET", "/status"), Context(request_id="status"), cloud.wiring)
    assert all("denied for" in json.loads(status["body"])["channels"][k]["lastError"] for k in second)
    for kind in second:
        fake(cloud.emu, kind).faults.clear()
    cloud.tick()

    # Each channel was told of the others' failures and recoveries, and got every change once.
    for kind in TYPES:
        alerts = [c[:3] for c in told_flat(cloud.emu, kind) if c[0].startswith("channel:")]
        failing = {c[0][len("channel:") :] for c in alerts if c[2] == "channel_failing"}
        assert failing == set(TYPES) - {kind}, (kind, alerts)
        changes = [c for c in told_flat(cloud.emu, kind) if not c[0].startswith("channel:")]
        assert [c[2] for c in changes] == ["watching", "status", "new_run"], (kind, changes)
    body = json.loads(check["body"])
    assert "delivery failed to" in body["error"] and "***" in body["error"]
    printed = capsys.readouterr()
    places = {
        "log lines": printed.out + printed.err,
        "/check answer": json.dumps(check, ensure_ascii=False),
        "/status answer": json.dumps(status, ensure_ascii=False),
        "timer causes": "\n".join(causes),
        "state.json": failing_state + json.dumps(cloud.state(), ensure_ascii=False),
        "messages": "\n".join(json.dumps(m, ensure_ascii=False) for k in TYPES for m in fake(cloud.emu, k).messages),
    }
    assert "channel_failed" in places["log lines"] and "denied for" in places["log lines"]
    assert "denied for" in places["messages"]  # the echo arrived, its credentials masked
    found = {where: leaks(text, secrets) for where, text in places.items()}
    assert found == {where: [] for where in places}, found
