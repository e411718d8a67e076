"""A config file in OSS whose DingTalk channel's URL is a KMS secret (``${kms:robot-url}``), end to
end against the emulator: the secret is read once per instance with the function's credentials
(signed RPC, STS token), the tick delivers through it, and its value shows nowhere."""

from __future__ import annotations

import json

import pytest
from conftest import BUCKET, Cloud

from taskwatch import redact
from taskwatch_emulator import Step

APP, FN = "shop", "ctr"
TARGET = f"{APP}/{FN}/main@latest"


@pytest.fixture(autouse=True)
def forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The KMS value (a loopback URL) is forgotten after the test: its pieces would mask other tests' text."""
    monkeypatch.setattr(redact, "_secrets", dict(redact._secrets))
    monkeypatch.setattr(redact, "_index", redact._index)


def kinds(answer: dict[str, object]) -> list[tuple[str, str]]:
    return [(c["kind"], c["target"]) for c in answer["changes"]]  # type: ignore[attr-defined,index]


def test_a_channel_url_kept_in_kms_delivers_and_is_read_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = cloud.emu
    emu.kms.put_secret("robot-url", emu.dingtalk_webhook)
    emu.oss.objects[(BUCKET, "config/taskwatch.toml")] = (
        '[[channel]]\nname = "oncall"\ntype = "dingtalk"\nurl = "${kms:robot-url}"\n'
        f'secret = "${{env:DINGTALK_SECRET}}"\nkeyword = "taskwatch"\n[[watch]]\ntargets = ["{APP}/{FN}/main"]\n'
    ).encode()
    monkeypatch.delenv("TASKWATCH_TARGETS", raising=False)
    monkeypatch.delenv("DINGTALK_WEBHOOK")  # the robot's URL is in KMS only
    monkeypatch.setenv("TASKWATCH_CONFIG", f"oss://{BUCKET}/config/taskwatch.toml")
    emu.opensearch.add_task(APP, FN, "main", 1, [Step("running", 10), Step("failed", 10, after_calls=1)])

    assert kinds(cloud.tick()) == [("watching", TARGET)]
    assert kinds(cloud.tick()) == [("status", TARGET)]
    assert len(cloud.texts()) == 2 and "running → **failed**" in cloud.texts()[1]
    # Read at the first tick only: the warm instance keeps it (the config itself is read every tick).
    assert emu.kms.reads == ["robot-url"] and emu.kms.count(method="POST") == 1
    assert not emu.kms.errors

    printed = capsys.readouterr()
    token = emu.dingtalk.access_token
    assert token not in printed.out + printed.err
    state = json.dumps(cloud.state())
    assert token not in state and emu.dingtalk.endpoint not in state
    assert not any(token in json.dumps(message) for message in emu.dingtalk.messages)
