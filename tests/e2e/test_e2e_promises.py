"""Every kind of change taskwatch tells, delivered once, end to end against the emulator.

Each test drives the real handler (`index.handler`) over real HTTP to the loopback emulator with the
virtual clock; ticks are 5 minutes apart unless a test says otherwise.
"""

from __future__ import annotations

import json
import re

import pytest
from alibabacloud_oss_v2 import defaults as oss_defaults
from conftest import BUCKET, Cloud

from taskwatch.kinds import KINDS
from taskwatch.model import Change, ChangeKind
from taskwatch_emulator import Step

APP, FN = "search_app", "ranker"
MAIN = f"{APP}/{FN}/main"  # follows the newest generation
MAIN_KEY = f"{MAIN}@latest"
MOBILE = "13800000000"


# One FC context style: how credentials arrive is test_e2e_ticks' subject, not these promises'.
pytestmark = pytest.mark.parametrize("cloud", ["py312"], indirect=True)


@pytest.fixture(autouse=True)
def no_oss_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oss_defaults, "DEFAULT_BASE_DELAY_S", 0.001)  # the OSS SDK's retry backoff


def watch(cloud: Cloud, targets: str, **settings: str) -> None:
    cloud.monkeypatch.setenv("TASKWATCH_TARGETS", targets)
    for name, value in settings.items():
        cloud.monkeypatch.setenv(name, value)


def kinds(answer: dict[str, object]) -> list[str]:
    changes = answer["changes"]
    assert isinstance(changes, list)
    return [c["kind"] for c in changes]


def tick_failing(cloud: Cloud, minutes: float = 5) -> str:
    """A tick that must fail as a failed invocation with a one-line cause; returns the cause."""
    with pytest.raises(RuntimeError) as err:
        cloud.tick(minutes)
    cause = str(err.value)
    assert "\n" not in cause and "Traceback" not in cause
    return cause


def claim_bodies(cloud: Cloud) -> dict[str, dict[str, object]]:
    return {k: json.loads(cloud.emu.oss.objects[(BUCKET, k)]) for k in cloud.objects("tw/claims/")}


# The digest parsed back into changes: (target, generation, kind, value) per headline line.
_BLOCK = re.compile(r"^\*\*(?P<target>[^*]+)\*\*(?: · gen (?P<gen>\S+))?$")
# Built from the kinds table, so a new kind is parsed (or this fails) rather than silently dropped.
_KINDS = {info.headline: kind.value for kind, info in KINDS.items() if info.headline}
_HEADLINE = re.compile(
    r"^- \S+ (?:\S+ → \*\*(?P<status>[^*]+)\*\*$|progress: passed \*\*(?P<pct>[0-9.]+)%\*\*$"
    r"|(?P<other>" + "|".join(re.escape(h) for h in sorted(_KINDS, key=len, reverse=True)) + r")(?=:|$))"
)


def delivered(texts: list[str]) -> list[tuple[str, str | None, str, str]]:
    """Every change the messages told, in order: (target, generation, kind, value)."""
    return [told for text in texts for told in parse_digest(text)]


def parse_digest(
    text: str, block_re: re.Pattern[str] = _BLOCK, headline_re: re.Pattern[str] = _HEADLINE
) -> list[tuple[str, str | None, str, str]]:
    """The changes one digest's text tells; other platforms' bold marks come with their own patterns."""
    out: list[tuple[str, str | None, str, str]] = []
    target: str | None = None
    generation: str | None = None
    for line in text.split("\n"):
        block = block_re.match(line)
        if block:
            target, generation = block["target"], block["gen"]
            continue
        head = headline_re.match(line)
        if head is None or target is None:
            continue
        if head["status"]:
            out.append((target, generation, "status", head["status"]))
        elif head["pct"]:
            out.append((target, generation, "progress", head["pct"]))
        else:
            out.append((target, generation, _KINDS[head["other"]], ""))
    return out


# --- @latest: new generations ------------------------------------------------------------------


def test_latest_follows_the_newest_generation_with_one_list_call(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    assert kinds(cloud.tick()) == ["watching"]
    cloud.emu.opensearch.reset_calls()

    assert kinds(cloud.tick()) == []

    calls = cloud.emu.opensearch.calls
    assert [(c.method, c.path) for c in calls] == [
        ("GET", f"/v4/openapi/app-groups/{APP}/functions/{FN}/instances/main/tasks")
    ]
    assert calls[0].query.get("pageSize") == "20"  # newest first: one page shows the stored run too


def test_new_generation_reports_the_previous_final_status_it_missed(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    # Between two ticks: generation 7 finishes and generation 8 starts.
    cloud.emu.opensearch.set_task(APP, FN, "main", 7, "success", 100, {"auc": 0.91})
    cloud.emu.opensearch.add_task(APP, FN, "main", 8, [Step("running", 5)])
    cloud.emu.opensearch.reset_calls()

    assert kinds(cloud.tick()) == ["status", "new_run"]

    assert cloud.emu.opensearch.count("/tasks/7") == 0  # its final status came with the listing
    assert cloud.emu.opensearch.count() == 1
    assert len(cloud.texts()) == 2  # both in one digest
    assert delivered(cloud.texts()[1:]) == [(MAIN_KEY, "7", "status", "success"), (MAIN_KEY, "8", "new_run", "")]
    text = cloud.texts()[1]
    assert "gen 7" in text and "running → **success**" in text and "auc=0.91" in text
    assert "gen 8" in text and "new run" in text
    assert cloud.state()["targets"][MAIN_KEY]["generation"] == "8"
    assert kinds(cloud.tick()) == []
    assert len(cloud.texts()) == 2


def test_previous_generation_unreadable_keeps_the_change_for_the_next_tick(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    cloud.emu.opensearch.set_task(APP, FN, "main", 7, "failed", 40, {"errors": ["OOM"]})
    # So many runs started since that 7 is beyond the pages read: it is read by its generation.
    for generation in range(8, 8 + 3 * 20):
        cloud.emu.opensearch.add_task(APP, FN, "main", generation, [Step("running", 5)])
    cloud.emu.opensearch.inject("status", times=None, path="/tasks/7", status=503)
    cloud.emu.opensearch.reset_calls()

    cause = tick_failing(cloud)

    assert "could not be read" in cause
    assert cloud.emu.opensearch.count("/instances/main/tasks") == 3 + 2  # three pages, then 7 (retried once)
    assert len(cloud.texts()) == 1  # nothing sent: the final status of 7 would have been lost
    cloud.emu.opensearch.faults.clear()
    found = kinds(cloud.tick())
    assert found == ["status"] + ["new_run"] * 60
    assert "running → **failed**" in cloud.texts()[1] and "errors: OOM" in cloud.texts()[1]


def test_previous_generation_deleted_does_not_block_the_new_run(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    cloud.emu.opensearch.remove_task(APP, FN, "main", 7)
    cloud.emu.opensearch.add_task(APP, FN, "main", 8, [Step("running", 5)])

    assert kinds(cloud.tick()) == ["new_run"]
    assert kinds(cloud.tick()) == []


# --- stalls --------------------------------------------------------------------------------------


def test_stall_is_told_once_with_mentions_then_moving_again_once(cloud: Cloud) -> None:
    watch(cloud, MAIN, TASKWATCH_STALL_MINUTES="12")
    task = cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 30)])

    seen = [kinds(cloud.tick()) for _ in range(6)]  # t = 0, 5, 10, 15, 20, 25 min

    assert seen == [["watching"], [], [], ["stalled"], [], []]
    assert "stalled" in cloud.texts()[1] and "no progress for 15 min" in cloud.texts()[1]
    assert f"@{MOBILE}" in cloud.texts()[1]
    assert cloud.emu.dingtalk.messages[1]["at"]["atMobiles"] == [MOBILE]

    task.steps = [Step("running", 35)]
    assert kinds(cloud.tick()) == ["moving"]
    assert kinds(cloud.tick()) == []
    assert "moving again" in cloud.texts()[2]
    assert cloud.emu.dingtalk.messages[2]["at"]["atMobiles"] == []
    assert len(cloud.texts()) == 3


# --- not found -----------------------------------------------------------------------------------


def test_not_found_is_told_once_then_watched_when_it_appears(cloud: Cloud) -> None:
    watch(cloud, f"{APP}/{FN}/fixed@99")

    seen = [kinds(cloud.tick()) for _ in range(3)]

    assert seen == [["not_found"], [], []]
    assert "not found" in cloud.texts()[0] and "Task.NotExist" in cloud.texts()[0]
    cloud.emu.opensearch.add_task(APP, FN, "fixed", 99, [Step("running", 10)])
    assert kinds(cloud.tick()) == ["watching"]
    assert len(cloud.texts()) == 2


# --- error alerts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ({"kind": "status", "status": 503}, "transient: ServiceUnavailable"),
        ({"kind": "status", "status": 403, "code": "Forbidden"}, "auth: Forbidden"),
        ({"kind": "timeout", "seconds": 0.5}, "transient: "),
    ],
    ids=["5xx", "auth", "timeout"],
)
def test_error_alert_after_error_ticks_names_the_cause_then_recovered(
    cloud: Cloud, fault: dict[str, object], cause: str
) -> None:
    watch(cloud, MAIN, TASKWATCH_ERROR_TICKS="3")
    cloud.use_timeouts(opensearch_read=0.1)  # 4 ticks x 2 attempts time out
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    cloud.emu.opensearch.inject(times=None, **fault)  # type: ignore[arg-type]

    tick_failing(cloud)
    tick_failing(cloud)
    assert len(cloud.texts()) == 1  # fewer than TASKWATCH_ERROR_TICKS failures: nothing
    tick_failing(cloud)
    tick_failing(cloud)

    assert len(cloud.texts()) == 2
    alert = cloud.texts()[1]
    assert "cannot read" in alert and "3 failed reads in a row" in alert and cause in alert
    assert f"@{MOBILE}" in alert and cloud.emu.dingtalk.messages[1]["at"]["atMobiles"] == [MOBILE]
    cloud.emu.opensearch.faults.clear()
    assert kinds(cloud.tick()) == ["recovered"]
    assert kinds(cloud.tick()) == []
    assert "recovered" in cloud.texts()[2] and cause in cloud.texts()[2]
    assert len(cloud.texts()) == 3


def test_fewer_failed_reads_than_error_ticks_send_nothing(cloud: Cloud) -> None:
    watch(cloud, MAIN, TASKWATCH_ERROR_TICKS="3")
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    for _ in range(3):  # twice two failures, separated by good reads
        cloud.emu.opensearch.inject("status", times=None, status=500)
        tick_failing(cloud)
        tick_failing(cloud)
        assert cloud.state()["targets"][MAIN_KEY]["errorCount"] == 2
        cloud.emu.opensearch.faults.clear()
        assert kinds(cloud.tick()) == []
        assert cloud.state()["targets"][MAIN_KEY]["errorCount"] == 0

    assert len(cloud.texts()) == 1


def test_an_alert_while_not_found_ends_with_recovered(cloud: Cloud) -> None:
    watch(cloud, f"{APP}/{FN}/fixed@99", TASKWATCH_ERROR_TICKS="2")
    assert kinds(cloud.tick()) == ["not_found"]
    cloud.emu.opensearch.inject("status", times=None, status=503)
    tick_failing(cloud)
    tick_failing(cloud)
    cloud.emu.opensearch.faults.clear()

    assert kinds(cloud.tick()) == ["recovered"]  # "not found" is an answer: reads work again
    cloud.emu.opensearch.inject("status", times=None, status=503)
    tick_failing(cloud)
    tick_failing(cloud)
    cloud.emu.opensearch.faults.clear()
    cloud.emu.opensearch.add_task(APP, FN, "fixed", 99, [Step("running", 10)])
    assert kinds(cloud.tick()) == ["recovered", "watching"]

    assert [e[2] for e in delivered(cloud.texts())] == [
        "not_found",
        "error",
        "recovered",
        "error",
        "recovered",
        "watching",
    ]


# --- DingTalk answers ----------------------------------------------------------------------------


def test_rate_limit_keeps_changes_pending_and_says_so(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    task = cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.emu.dingtalk.per_minute = 1  # the real robot's limit is 20 a minute; one digest per tick
    cloud.tick(minutes=0.2)
    task.steps = [Step("running", 30)]
    cloud.emu.dingtalk.reset_calls()

    cause = tick_failing(cloud, minutes=0.2)  # the fake answers its own 130101

    assert "130101" in cause and "stay pending" in cause
    assert cloud.emu.dingtalk.count() == 1  # no retry inside the tick: the limit lasts a minute
    assert not any(b'"sending"' in cloud.emu.oss.objects[(BUCKET, k)] for k in cloud.objects("tw/claims/"))
    cloud.clock.advance(60)
    assert kinds(cloud.tick()) == ["progress"]
    assert len(cloud.texts()) == 2 and "passed **25%**" in cloud.texts()[1]


@pytest.mark.parametrize(
    ("errcode", "names"),
    [
        (310000, ["DINGTALK_SECRET", "DINGTALK_KEYWORD", "IP allow-list"]),
        (300001, ["access_token", "DINGTALK_WEBHOOK"]),
    ],
)
def test_configuration_errcodes_name_the_setting_and_are_not_retried(
    cloud: Cloud, errcode: int, names: list[str]
) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.emu.dingtalk.inject("errcode", times=None, errcode=errcode)

    cause = tick_failing(cloud)

    assert str(errcode) in cause and all(name in cause for name in names), cause
    assert cloud.emu.dingtalk.count() == 1
    assert all(body["status"] == "released" for body in claim_bodies(cloud).values())  # nothing held
    assert [c["kind"] for c in cloud.state()["channels"]["dingtalk"]["pending"]] == ["watching"]
    cloud.emu.dingtalk.faults.clear()
    assert kinds(cloud.tick()) == ["watching"]


def test_real_sign_and_token_mistakes_name_the_setting(cloud: Cloud) -> None:
    watch(cloud, MAIN, DINGTALK_SECRET="SECnot-the-robot-secret")
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    assert "DINGTALK_SECRET" in tick_failing(cloud)
    webhook = cloud.emu.dingtalk_webhook.replace("emulator", "x")
    assert webhook != cloud.emu.dingtalk_webhook
    watch(cloud, MAIN, DINGTALK_SECRET=cloud.emu.dingtalk.secret or "", DINGTALK_WEBHOOK=webhook)
    cause = tick_failing(cloud)
    assert "300001" in cause and "DINGTALK_WEBHOOK" in cause and "x-robot-token" not in cause
    assert cloud.emu.dingtalk.messages == []


def test_an_oversize_digest_is_cut_with_more_and_sent_as_one_message(cloud: Cloud) -> None:
    instances = [f"shard{i:02d}" for i in range(12)]
    watch(cloud, ",".join(f"{APP}/{FN}/{name}" for name in instances))
    long_errors = [f"worker {w}: " + "stack frame " * 20 for w in range(15)]
    for name in instances:
        cloud.emu.opensearch.add_task(
            APP, FN, name, 1, [Step("running", 10), Step("failed", 10, {"errors": long_errors}, after_calls=1)]
        )
    cloud.tick()

    assert kinds(cloud.tick()) == ["status"] * 12

    assert len(cloud.texts()) == 2  # one digest, not a storm
    body = json.dumps(cloud.emu.dingtalk.messages[1], ensure_ascii=False).encode()
    assert len(body) <= 20_000
    text = cloud.texts()[1]
    assert "more" in text and "+" in text and "taskwatch: 12 changes, 12 failed" in text


def test_one_huge_task_block_is_shortened_not_dropped(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    errors = [f"error {n}: " + "x" * 280 for n in range(200)]
    metrics = {f"metric_{n}": n for n in range(300)}
    cloud.emu.opensearch.add_task(
        APP, FN, "main", 7, [Step("running", 10), Step("failed", 10, {"errors": errors, **metrics}, after_calls=1)]
    )
    cloud.tick()

    assert kinds(cloud.tick()) == ["status"]

    text = cloud.texts()[1]
    assert "running → **failed**" in text and "error 0:" in text and f"@{MOBILE}" in text
    assert len(json.dumps(cloud.emu.dingtalk.messages[1], ensure_ascii=False).encode()) <= 20_000


# --- corrupt state -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"{not json", b"\xff\xfe\x00binary", b'{"format": 1, "revision": 3, "targets": {"a": "b"}}', b"[]"],
    ids=["not-json", "not-utf8", "wrong-shape", "wrong-type"],
)
def test_corrupt_state_is_copied_aside_warned_once_and_watching_restarts(
    cloud: Cloud, capsys: pytest.CaptureFixture[str], garbage: bytes
) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    cloud.tick()
    cloud.emu.oss.objects[(BUCKET, "tw/state.json")] = garbage
    capsys.readouterr()

    assert kinds(cloud.tick()) == ["watching"]  # a fresh "now watching" digest, even for the same task
    assert [kinds(cloud.tick()) for _ in range(3)] == [[], [], []]

    assert len(cloud.texts()) == 2 and "now watching" in cloud.texts()[1]
    aside = cloud.objects("tw/corrupt/")
    assert len(aside) == 1 and cloud.emu.oss.objects[(BUCKET, aside[0])] == garbage
    assert capsys.readouterr().err.count('"state_corrupt"') == 1


def test_an_oss_error_reading_state_is_not_corruption(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40), Step("success", 100, after_calls=1)])
    cloud.tick()
    cloud.emu.oss.inject("status", times=None, status=500, method="GET")

    assert "cannot read state" in tick_failing(cloud)

    cloud.emu.oss.faults.clear()
    assert kinds(cloud.tick()) == ["status"]
    assert cloud.objects("tw/corrupt/") == []


# --- claims --------------------------------------------------------------------------------------


def test_a_failed_send_leaves_no_claim_behind(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10), Step("failed", 10, after_calls=1)])
    cloud.tick()
    before = cloud.objects("tw/claims/")
    cloud.emu.dingtalk.inject("status", times=None, status=502)

    assert "stay pending" in tick_failing(cloud)

    assert cloud.objects("tw/claims/") == before
    cloud.emu.dingtalk.faults.clear()
    assert kinds(cloud.tick()) == ["status"]
    assert len(cloud.texts()) == 2


def test_a_claim_left_sending_blocks_until_it_expires_then_is_taken_over(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10), Step("success", 100, after_calls=1)])
    cloud.tick()
    # The send fails and so does the release: the claim stays "sending", as if the tick had died.
    cloud.emu.dingtalk.inject("errcode", times=2)
    cloud.emu.oss.inject("status", times=None, method="DELETE", status=503)
    tick_failing(cloud, minutes=4)
    cloud.emu.oss.faults.clear()
    stuck = [k for k, v in claim_bodies(cloud).items() if v["status"] == "sending"]
    assert len(stuck) == 1

    assert kinds(cloud.tick(minutes=4)) == ["status"]  # 4 min after: the claim is live, another tick may send
    assert len(cloud.texts()) == 1
    outbox = cloud.state()["channels"]["dingtalk"]["pending"]
    assert [c["kind"] for c in outbox] == ["status"]  # the change waits in the channel's outbox
    assert kinds(cloud.tick()) == ["status"]  # 8 min: still live (claims last 10 min)
    assert len(cloud.texts()) == 1
    assert kinds(cloud.tick()) == ["status"]  # 13 min: expired, taken over through claims/<id>.1

    assert len(cloud.texts()) == 2 and "running → **success**" in cloud.texts()[1]
    bodies = claim_bodies(cloud)
    assert bodies[stuck[0] + ".1"]["status"] == "sent"
    assert kinds(cloud.tick()) == [] and len(cloud.texts()) == 2


def test_a_planted_expired_claim_is_taken_over(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10), Step("success", 100, after_calls=1)])
    cloud.tick()
    # The change id is deterministic (target, revision of the stored entry, kind, value): plant
    # the claim a tick that died an hour ago would have left for "7: running -> success".
    change = Change(MAIN_KEY, ChangeKind.STATUS, cloud.state()["targets"][MAIN_KEY]["rev"], "7:success")
    old = int((cloud.clock() - 3600) * 1000)
    cloud.emu.oss.objects[(BUCKET, f"tw/claims/dingtalk/{change.id}")] = json.dumps(
        {"change": change.id, "status": "sending", "tick": "dead", "at": old, "expires": old + 600_000}
    ).encode()

    assert kinds(cloud.tick()) == ["status"]

    assert len(cloud.texts()) == 2 and "running → **success**" in cloud.texts()[1]
    assert claim_bodies(cloud)[f"tw/claims/dingtalk/{change.id}.1"]["status"] == "sent"
    assert kinds(cloud.tick()) == [] and len(cloud.texts()) == 2


def test_a_planted_live_claim_holds_the_change(cloud: Cloud) -> None:
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10), Step("success", 100, after_calls=1)])
    cloud.tick()
    change = Change(MAIN_KEY, ChangeKind.STATUS, cloud.state()["targets"][MAIN_KEY]["rev"], "7:success")
    now = int(cloud.clock() * 1000)
    cloud.emu.oss.objects[(BUCKET, f"tw/claims/dingtalk/{change.id}")] = json.dumps(
        {"change": change.id, "status": "sending", "tick": "other", "at": now, "expires": now + 600_000}
    ).encode()

    assert kinds(cloud.tick()) == ["status"]

    assert len(cloud.texts()) == 1  # another tick is delivering it
    assert cloud.state()["targets"][MAIN_KEY]["status"] == "running"
    cloud.emu.oss.objects[(BUCKET, f"tw/claims/dingtalk/{change.id}")] = json.dumps(
        {"change": change.id, "status": "sent", "tick": "other", "at": now, "expires": now + 600_000}
    ).encode()
    assert kinds(cloud.tick()) == ["status"]  # the other tick delivered it: recorded, not sent again
    assert len(cloud.texts()) == 1
    assert cloud.state()["targets"][MAIN_KEY]["status"] == "success"
    assert kinds(cloud.tick()) == []


# --- the one duplicate window ----------------------------------------------------------------------


def test_the_documented_duplicate_dingtalk_accepted_but_the_answer_was_lost(cloud: Cloud) -> None:
    """DingTalk has no idempotency key: a digest it accepted whose answer never arrives (the same window
    as a process dying between DingTalk's acceptance and the commit) is sent again. This pins it."""
    watch(cloud, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10), Step("failed", 10, after_calls=1)])
    cloud.tick()
    cloud.emu.dingtalk.inject("latency", times=1, seconds=0.3)  # accepted, answered after the client gave up

    cloud.tick()
    cloud.emu.dingtalk.wait_for(3, timeout=2)  # the first attempt lands after the retry

    failed = [t for t in cloud.texts() if "running → **failed**" in t]
    assert len(failed) == 2  # the retry sent it again: the documented duplicate
    assert kinds(cloud.tick()) == [] and len(cloud.texts()) == 3
