"""The chat platforms' side of the channels section: a 300-change digest rendered for each
platform, timed, sent to the emulator's fake of that platform, and its request body weighed.

Runs in this (the parent) process: rendering is pure Python, and the body is read where the fake
receives it, so what is weighed is exactly what went over the wire, signature fields included.
"""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

from bench.common import bench_emulator

PLATFORMS = ("dingtalk", "wecom", "feishu", "lark", "slack", "webhook")
DIGEST_CHANGES = 300
# A watch's owner in each platform's own form (webhooks ping nobody): failures are urgent, so the
# digest carries the mentions and WeCom sends its mention text after the markdown.
MENTION = {
    "dingtalk": "13800000000",
    "wecom": "13911112222",
    "feishu": "ou_benchOwner01",
    "lark": "ou_benchOwner02",
    "slack": "U0BENCHOWNER",
}
FEISHU_SECRET = "bench-feishu-sign-secret"
LARK_SECRET = "bench-lark-sign-secret"
DIGEST_KEY = "0123456789abcdef0123456789abcdef"  # a digest id, as delivery passes it to send
_MORE = re.compile(r"… \+(\d+) more")


def arm(emu: Any) -> None:
    """Feishu and Lark check signatures once they have a secret: the bench signs like a deployment."""
    emu.feishu.secret = FEISHU_SECRET
    emu.lark.secret = LARK_SECRET


def fake(emu: Any, platform: str) -> Any:
    return {
        "dingtalk": emu.dingtalk,
        "wecom": emu.wecom,
        "feishu": emu.feishu,
        "lark": emu.lark,
        "slack": emu.slack,
        "webhook": emu.webhook,
    }[platform]


def channel_table(emu: Any, platform: str, name: str | None = None) -> str:
    """One ``[[channel]]`` of ``platform`` pointing at its fake, signed where the platform signs."""
    url = {
        "dingtalk": emu.dingtalk_webhook,
        "wecom": emu.wecom_webhook,
        "feishu": emu.feishu_webhook,
        "lark": emu.lark_webhook,
        "slack": emu.slack_webhook,
        "webhook": emu.webhook_url,
    }[platform]
    secret = {
        "dingtalk": emu.dingtalk.secret,
        "feishu": emu.feishu.secret,
        "lark": emu.lark.secret,
        "webhook": emu.webhook.secret,
    }.get(platform)
    lines = ["[[channel]]", f'name = "{name or platform}"', f'type = "{platform}"', f'url = "{url}"']
    if secret:
        lines.append(f'secret = "{secret}"')
    if platform in MENTION:
        lines.append(f'mention = ["{MENTION[platform]}"]')
    return "\n".join(lines) + "\n"


def digest_changes(count: int = DIGEST_CHANGES) -> list[Any]:
    """A busy tick's changes, a third each: failures (a dozen errors, 25 metrics), progress, new runs."""
    from taskwatch.model import Change, ChangeKind, Task

    start = 1_795_000_000_000  # ms
    out: list[Change] = []
    for n in range(count):
        target = f"app_{n % 10}/function_{n}/instance-{n}@latest"
        generation = str(1_700_000_000 + n)
        if n % 3 == 0:
            task = Task(
                generation,
                "failed",
                40,
                start_time=start,
                end_time=start + 5_400_000,
                metrics=tuple((f"metric_{i}", f"{i}.5") for i in range(25)),
                errors=tuple(f'OOM {i} "quoted" \\ back in worker-{i}' for i in range(12)),
            )
            out.append(Change(target, ChangeKind.STATUS, 1, "failed", task, old_status="running"))
        elif n % 3 == 1:
            task = Task(generation, "running", 50, start_time=start, metrics=(("recall", "0.88"),))
            out.append(Change(target, ChangeKind.PROGRESS, 1, "50", task, detail="50"))
        else:
            task = Task(generation, "running", 10, start_time=start)
            out.append(Change(target, ChangeKind.NEW_RUN, 1, generation, task))
    return out


def budget(platform: str) -> int | None:
    """The platform's byte budget (its module's MAX_BYTES; Lark's are Feishu's); None: no budget."""
    from taskwatch.notifiers import load

    module = load("feishu" if platform == "lark" else platform)
    value = getattr(module, "MAX_BYTES", None)
    return int(value) if value is not None else None


def notifiers(emu: Any) -> dict[str, Any]:
    """Each platform's client as the function builds it: from a config file's ``[[channel]]``."""
    from taskwatch.config import parse_config
    from taskwatch.notifiers import build_notifier, channels_from_config
    from taskwatch.ports import DEFAULT_TIMEOUTS

    text = "".join(channel_table(emu, p) for p in PLATFORMS) + '[[watch]]\ntargets = ["app/fn/inst@latest"]\n'
    config = parse_config(text.encode(), "bench channels", {})
    return {c.type: build_notifier(c, DEFAULT_TIMEOUTS) for c in channels_from_config(config)}


def digest_rows(runs: int, count: int = DIGEST_CHANGES) -> list[dict[str, Any]]:
    """Per platform: the median render time of ``runs`` renders of ``count`` changes, and the bytes
    of each request its client sent for that digest (WeCom: the markdown, then the mention text)."""
    changes = digest_changes(count)
    rows = []
    with bench_emulator() as emu:
        arm(emu)
        clients = notifiers(emu)
        for platform in PLATFORMS:
            client, service = clients[platform], fake(emu, platform)
            times, message = [], None
            for _ in range(runs):
                started = time.perf_counter()
                message = client.digest(changes)
                times.append(time.perf_counter() - started)
            assert message is not None
            bodies: list[int] = []
            service.hold = lambda req, bodies=bodies: bodies.append(len(req.body))
            error = None
            try:
                client.send(message, DIGEST_KEY)
            except Exception as err:  # a refused body is the figure to show, not a crash
                error = f"{type(err).__name__}: {err}"[:300]
            finally:
                service.hold = None
            more = _MORE.search(message.text)
            limit = budget(platform)
            rows.append(
                {
                    "platform": platform,
                    "changes": count,
                    "shown": count - int(more.group(1)) if more else count,
                    "render_ms": statistics.median(times) * 1000,
                    "render_runs": runs,
                    "body_bytes": bodies[0] if bodies else None,
                    "request_bytes": bodies,
                    "requests": len(bodies),
                    "budget_bytes": limit,
                    "within_budget": bool(bodies) and (limit is None or bodies[0] <= limit),
                    "accepted": error is None and not service.errors,
                    "error": error,
                }
            )
    return rows
