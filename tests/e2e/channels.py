"""What the channel end-to-end tests share: a config file with one ``[[channel]]`` per platform
pointing at the emulator's fakes, and each fake's accepted messages read back as changes.

Every platform gets its own long credentials (robot key, hook token, signing secret, ``whsec_``
secret), none sharing 12 characters with another or with ordinary text, so a test can assert that
no piece of one reaches a message, a log line or an answer.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Cloud
from test_e2e_promises import parse_digest

from taskwatch import redact
from taskwatch.kinds import KINDS
from taskwatch_emulator import Emulator

TYPES = ("dingtalk", "wecom", "feishu", "lark", "slack", "webhook")

DINGTALK_TOKEN = "dtRobotTok-6Wc1Ny8Se3Kv5Qm"
WECOM_KEY = "wecomKey-7Hq2Lx9Vb4Nz1Pk6"
FEISHU_TOKEN = "fsHookTok-3Jd8Rw5Yc2Mu7Gt0"
FEISHU_SECRET = "fsSignSec-9Ke4Ta1Ub6Wo3Zi8"
LARK_TOKEN = "lkHookTok-5Fn0Qs7Xe2Hv9Bp4"
LARK_SECRET = "lkSignSec-2Gm6Ry3Dw8Ja5Lc1"
SLACK_SECRET = "slackHookSec4Vt9Nf2Ph7Qa"
SLACK_PATH = f"/services/T0TASKW/B0TASKW/{SLACK_SECRET}"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-receiver-key:8Xs3Kf6Dn1").decode()

# An owner of a watch, in each platform's own form: only its own form pings on that platform.
OWNER = {
    "dingtalk": "13800000000",
    "wecom": "13911112222",
    "feishu": "ou_feishuOwner01",
    "lark": "ou_larkOwner02",
    "slack": "U0SLACKOWNER",
}


def platform_secrets(emu: Emulator) -> dict[str, list[str]]:
    """Every credential of each platform's channel: what must never show anywhere."""
    dingtalk = [emu.dingtalk.access_token] + ([emu.dingtalk.secret] if emu.dingtalk.secret else [])
    return {
        "dingtalk": dingtalk,
        "wecom": [WECOM_KEY],
        "feishu": [FEISHU_TOKEN, FEISHU_SECRET],
        "lark": [LARK_TOKEN, LARK_SECRET],
        "slack": [SLACK_SECRET],
        "webhook": [WEBHOOK_SECRET],
    }


def forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets a test registers are forgotten after it: their pieces would mask other tests' text."""
    monkeypatch.setattr(redact, "_secrets", dict(redact._secrets))
    monkeypatch.setattr(redact, "_index", redact._index)


def arm(emu: Emulator) -> None:
    """Give the fakes this module's credentials; Feishu and Lark then check signatures."""
    emu.dingtalk.access_token = DINGTALK_TOKEN
    emu.wecom.key = WECOM_KEY
    emu.feishu.token, emu.feishu.secret = FEISHU_TOKEN, FEISHU_SECRET
    emu.lark.token, emu.lark.secret = LARK_TOKEN, LARK_SECRET
    emu.slack.path = SLACK_PATH
    emu.webhook.secret = WEBHOOK_SECRET


@dataclass(frozen=True)
class Spec:
    """One ``[[channel]]``: named after its type unless ``name`` says otherwise."""

    type: str
    name: str = ""
    mention: tuple[str, ...] = ()
    kinds: tuple[str, ...] | None = None

    @property
    def channel(self) -> str:
        return self.name or self.type


@dataclass(frozen=True)
class Watch:
    targets: tuple[str, ...]
    channels: tuple[str, ...] | None = None
    mention: tuple[str, ...] = ()
    kinds: tuple[str, ...] | None = None


def _toml(value: Any) -> str:
    # JSON strings, numbers and arrays of strings are valid TOML as they are.
    return json.dumps(value)


def channel_table(emu: Emulator, spec: Spec) -> str:
    url = {
        "dingtalk": emu.dingtalk_webhook,
        "wecom": emu.wecom_webhook,
        "feishu": emu.feishu_webhook,
        "lark": emu.lark_webhook,
        "slack": emu.slack_webhook,
        "webhook": emu.webhook_url,
    }[spec.type]
    secret = {
        "dingtalk": emu.dingtalk.secret,
        "feishu": emu.feishu.secret,
        "lark": emu.lark.secret,
        "webhook": emu.webhook.secret,
    }.get(spec.type)
    lines = ["[[channel]]", f"name = {_toml(spec.channel)}", f"type = {_toml(spec.type)}", f"url = {_toml(url)}"]
    if secret:
        lines.append(f"secret = {_toml(secret)}")
    if spec.type == "dingtalk" and emu.dingtalk.keyword:
        lines.append(f"keyword = {_toml(emu.dingtalk.keyword)}")
    if spec.mention:
        lines.append(f"mention = {_toml(list(spec.mention))}")
    if spec.kinds is not None:
        lines.append(f"kinds = {_toml(list(spec.kinds))}")
    return "\n".join(lines) + "\n"


def configure(cloud: Cloud, path: Path, channels: list[Spec], watches: list[Watch], **top: int | float | str) -> Path:
    """Write the config file and point TASKWATCH_CONFIG at it; the environment's targets go."""
    arm(cloud.emu)
    parts = [f"{key} = {_toml(value)}\n" for key, value in top.items()]
    parts += [channel_table(cloud.emu, spec) for spec in channels]
    for watch in watches:
        lines = ["[[watch]]", f"targets = {_toml(list(watch.targets))}"]
        if watch.channels is not None:
            lines.append(f"channels = {_toml(list(watch.channels))}")
        if watch.mention:
            lines.append(f"mention = {_toml(list(watch.mention))}")
        if watch.kinds is not None:
            lines.append(f"kinds = {_toml(list(watch.kinds))}")
        parts.append("\n".join(lines) + "\n")
    path.write_text("".join(parts))
    cloud.monkeypatch.delenv("TASKWATCH_TARGETS", raising=False)
    cloud.monkeypatch.setenv("TASKWATCH_CONFIG", f"file://{path}")
    return path


def fake(emu: Emulator, kind: str) -> Any:
    """The fake of a channel type."""
    fakes = {"dingtalk": emu.dingtalk, "wecom": emu.wecom, "feishu": emu.feishu, "lark": emu.lark}
    return {**fakes, "slack": emu.slack, "webhook": emu.webhook}[kind]


def fake_errors(emu: Emulator) -> list[str]:
    return [e for kind in TYPES for e in fake(emu, kind).errors]


# --- reading the messages back ----------------------------------------------------------------

Told = tuple[str, str | None, str, str]  # (target, generation, kind, value)

# Built from the kinds table, so a new kind is parsed (or this fails) rather than silently dropped.
# Bold is "**x**" in markdown and "*x*" in Slack's mrkdwn: the text is read with single stars.
_KINDS = {info.headline: kind.value for kind, info in KINDS.items() if info.headline}
_BLOCK = re.compile(r"^\*(?P<target>[^*]+)\*(?: · gen (?P<gen>\S+))?$")
_HEADLINE = re.compile(
    r"^- \S+ (?:\S+ → \*(?P<status>[^*]+)\*$|progress: passed \*(?P<pct>[0-9.]+)%\*$"
    r"|(?P<other>" + "|".join(re.escape(h) for h in sorted(_KINDS, key=len, reverse=True)) + r")(?=:|$))"
)
_MORE = re.compile(r"… \+(\d+) more")


def digests(emu: Emulator, kind: str) -> list[dict[str, Any]]:
    """The digests a platform accepted (WeCom's mention-only ``text`` parts left out)."""
    with fake(emu, kind).lock:
        messages = list(fake(emu, kind).messages)
    return [m for m in messages if kind != "wecom" or m.get("msgtype") == "markdown"]


def _text(kind: str, message: dict[str, Any]) -> str:
    if kind == "dingtalk":
        return str(message["markdown"]["text"])
    if kind == "wecom":
        return str(message["markdown"]["content"])
    if kind in ("feishu", "lark"):
        return "\n".join(str(e["text"]["content"]) for e in message["card"]["elements"])
    if kind == "slack":
        return "\n".join(str(b["text"]["text"]) for b in message["blocks"])
    return str(message["text"])


def text_of(kind: str, message: dict[str, Any]) -> str:
    """A digest's visible text, bold as single stars and Slack's escapes undone."""
    text = _text(kind, message).replace("**", "*")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse(text: str) -> list[Told]:
    """Every change one digest's text tells, in order (bold as single stars)."""
    return parse_digest(text, _BLOCK, _HEADLINE)


def _from_json(change: dict[str, Any]) -> Told:
    kind = change["kind"]
    value = change["status"] if kind == "status" else change["detail"] if kind == "progress" else ""
    return change["target"], change["generation"], kind, value


def told(emu: Emulator, kind: str) -> list[list[Told]]:
    """Each digest a platform accepted, as the changes it tells (the webhook's from its JSON)."""
    if kind == "webhook":
        return [[_from_json(c) for c in m["changes"]] for m in digests(emu, kind)]
    return [parse(text_of(kind, m)) for m in digests(emu, kind)]


def told_flat(emu: Emulator, kind: str) -> list[Told]:
    return [change for digest in told(emu, kind) for change in digest]


def more(emu: Emulator, kind: str, message: dict[str, Any]) -> int:
    """How many changes a digest counts in its "+N more" line (0 without one)."""
    if kind == "webhook":
        return 0  # a program reads it: every change is in its JSON
    found = _MORE.search(text_of(kind, message))
    return int(found.group(1)) if found else 0


_FEISHU_AT = re.compile(r"<at id=([^>]+)></at>")
_SLACK_AT = re.compile(r"<@([UW][A-Z0-9]+)>")


def pinged(emu: Emulator, kind: str) -> list[list[str]]:
    """Who each accepted digest really pings, in the platform's own form, and checked against the
    fake's own reading of its messages (``mentions()``)."""
    with fake(emu, kind).lock:
        messages = list(fake(emu, kind).messages)
    out: list[list[str]] = []
    for msg in messages:
        if kind == "dingtalk":
            # DingTalk pings a mobile of atMobiles only when "@mobile" is in the text too.
            out.append([m for m in msg["at"]["atMobiles"] if f"@{m}" in msg["markdown"]["text"]])
        elif kind == "wecom" and msg["msgtype"] == "text":
            out[-1] += msg["text"].get("mentioned_mobile_list", [])  # the ping that follows its markdown
        elif kind in ("feishu", "lark"):
            out.append(_FEISHU_AT.findall(text_of(kind, msg)))
        elif kind == "slack":
            # The fallback text and the blocks name them both: one message pings each once.
            out.append(list(dict.fromkeys(_SLACK_AT.findall(f"{msg['text']}\n{_text(kind, msg)}"))))
        else:
            out.append([])
    if kind == "dingtalk":
        return out
    if kind == "webhook":
        assert not any(out)
        return out
    assert set(fake(emu, kind).mentions()) == {m for ids in out for m in ids}
    return out
