"""Tick stories end to end: real handler, real SDKs, loopback emulator checking signatures.

Each story runs in both FC context styles (credentials in `context.credentials` or in the
environment); tests/test_tick_handler.py pins what each request carries.
"""

from __future__ import annotations

import pathlib

import pytest
from conftest import BUCKET, Cloud
from helpers.creds import AK_ID, AK_SECRET

from taskwatch_emulator import Step

APP, FN = "search_app", "ranker"
MAIN = f"{APP}/{FN}/main"
FIXED = f"{APP}/{FN}/fixed@42"


def watch(cloud: Cloud, monkeypatch: pytest.MonkeyPatch, targets: str = f"{MAIN}, {FIXED}") -> None:
    monkeypatch.setenv("TASKWATCH_TARGETS", targets)


def test_a_training_run_from_first_tick_to_success(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    watch(cloud, monkeypatch)
    cloud.emu.opensearch.add_task(
        APP,
        FN,
        "main",
        7,
        [
            Step("running", 10),
            Step("running", 30, after_calls=1),
            Step("running", 30, after_calls=2),
            Step("success", 100, {"recall": 93.1, "errors": []}, after_calls=3),
        ],
    )
    cloud.emu.opensearch.add_task(
        APP, FN, "fixed", 42, [Step("running", 50), Step("failed", 50, {"errors": ["OOM"]}, after_calls=2)]
    )

    kinds = [[c["kind"] for c in cloud.tick()["changes"]] for _ in range(5)]

    assert kinds == [["watching", "watching"], ["progress"], ["status"], ["status"], []]
    texts = cloud.texts()
    assert len(texts) == 4
    assert f"**{MAIN}@latest** · gen 7" in texts[0] and f"**{FIXED}** · gen 42" in texts[0]
    assert "passed **25%**" in texts[1]
    assert "❌ running → **failed**" in texts[2] and "errors: OOM" in texts[2] and "@13800000000" in texts[2]
    assert cloud.emu.dingtalk.messages[2]["at"]["atMobiles"] == ["13800000000"]
    assert "✅ running → **success**" in texts[3] and "metrics: recall=93.1" in texts[3]
    assert cloud.state()["targets"][f"{MAIN}@latest"]["status"] == "success"


def test_idle_tick_reads_only(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    watch(cloud, monkeypatch)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.emu.opensearch.add_task(APP, FN, "fixed", 42, [Step("running", 50)])
    cloud.tick()
    cloud.emu.oss.reset_calls()
    cloud.emu.opensearch.reset_calls()

    answer = cloud.tick()

    assert answer["changes"] == [] and answer["saved"] is False
    assert [(c.method, c.path) for c in cloud.emu.oss.calls] == [("GET", f"/{BUCKET}/tw/state.json")]  # no write
    assert cloud.emu.opensearch.count() == 2  # one call per target
    assert len(cloud.emu.dingtalk.messages) == 1


def test_dingtalk_failure_then_healthy_tick_delivers_once(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    watch(cloud, monkeypatch, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10), Step("failed", 10, after_calls=1)])
    cloud.tick()
    cloud.emu.dingtalk.inject("errcode", times=2)

    with pytest.raises(RuntimeError, match="stay pending"):
        cloud.tick()
    cloud.tick()
    cloud.tick()

    assert len(cloud.texts()) == 2 and "❌ running → **failed**" in cloud.texts()[1]
    claims = cloud.objects("tw/claims/")
    assert len(claims) == 2  # one per change delivered: "now watching", then "failed"
    assert all(b'"sent"' in cloud.emu.oss.objects[(BUCKET, k)] for k in claims)


AK_OTHER = "LTAIotherKeyForE2e"


def test_wrong_secret_key_is_a_clear_auth_error(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    watch(cloud, monkeypatch, MAIN)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.emu.keys.add(AK_OTHER, "the-right-secret", None)
    monkeypatch.setenv("TASKWATCH_STATE", f"file://{tmp_path}")
    cloud.use_key(AK_OTHER, "the-wrong-secret")

    with pytest.raises(RuntimeError) as err:
        cloud.tick()

    assert "auth: SignatureDoesNotMatch" in str(err.value)
    assert "the-wrong-secret" not in str(err.value)
    assert cloud.emu.dingtalk.messages == []


def test_wrong_secret_on_oss_state_fails_before_reading_tasks(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    watch(cloud, monkeypatch, MAIN)
    cloud.emu.keys.add(AK_OTHER, "the-right-secret", None)
    cloud.use_key(AK_OTHER, "the-wrong-secret")

    with pytest.raises(RuntimeError, match=r"cannot read state: OSS GetObject tw/state.json: SignatureDoesNotMatch"):
        cloud.tick()

    assert cloud.emu.opensearch.count() == 0


def test_wrong_sts_token_is_rejected(cloud: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    watch(cloud, monkeypatch, MAIN)
    monkeypatch.setenv("TASKWATCH_STATE", f"file://{tmp_path}")
    cloud.use_key(AK_ID, AK_SECRET, "a-stale-token-value")

    with pytest.raises(RuntimeError, match="auth: InvalidSecurityToken"):
        cloud.tick()


FAULTS = [
    ("opensearch", "status", {"status": 503}),
    ("opensearch", "timeout", {"seconds": 0.5}),
    ("opensearch", "malformed", {}),
    ("opensearch", "reset", {}),
    ("oss", "status", {"status": 503, "method": "GET"}),
    ("oss", "status", {"status": 500, "method": "PUT"}),
    ("oss", "timeout", {"seconds": 0.5, "method": "PUT"}),
    ("oss", "reset", {"method": "GET"}),
    ("dingtalk", "status", {"status": 500}),
    ("dingtalk", "timeout", {"seconds": 0.5}),
    ("dingtalk", "malformed", {}),
    ("dingtalk", "errcode", {"errcode": -1}),
]


@pytest.mark.parametrize(("service", "kind", "options"), FAULTS, ids=[f"{s}-{k}-{o}" for s, k, o in FAULTS])
def test_a_fault_fails_the_tick_cleanly_and_the_next_delivers_everything_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, service: str, kind: str, options: dict[str, object]
) -> None:
    watch(cloud, monkeypatch)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10), Step("success", 100, after_calls=1)])
    cloud.emu.opensearch.add_task(APP, FN, "fixed", 42, [Step("running", 50), Step("running", 80, after_calls=1)])
    cloud.tick()
    # Persistent for the tick: the clients retry once, so the fault must outlast that retry.
    getattr(cloud.emu, service).inject(kind, times=None, **options)

    with pytest.raises(RuntimeError) as err:
        cloud.tick()
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)

    getattr(cloud.emu, service).faults.clear()
    cloud.tick()
    cloud.tick()

    texts = cloud.texts()
    assert len(texts) == 2, texts
    assert "✅ running → **success**" in texts[1] and "passed **75%**" in texts[1]
    assert [c["kind"] for c in cloud.tick()["changes"]] == []
