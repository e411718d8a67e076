"""`taskwatch demo`: a whole training run against the local emulator, printed as the team would see it.

Two tasks play a scripted timeline: the main run climbs from 0% to success with metrics and then a
new run starts; a canary run stalls and fails with errors. Each tick is a real FC-shaped timer
event through the function's handler; the virtual clock moves 5 minutes per tick, so the whole
afternoon plays in a few seconds. Nothing leaves 127.0.0.1 and no account is needed.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, TextIO

from . import Emulator, ManualClock, Step

TICK_MINUTES = 5
START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc).timestamp()
APP = "demo_search"
MAIN = f"{APP}/ltr_ranker/prod"
CANARY = f"{APP}/ltr_ranker/canary@2001"
INTENT = f"{APP}/query_intent/*"  # a wildcard: every instance of the function, found by listing
MOBILE = "13800000000"
TICKS = 12


def script(emu: Emulator, intent_en_errors: list[str] | None = None) -> None:
    """The timeline, in ticks (one OpenSearch read per task per tick). With ``intent_en_errors``
    the wildcard's second instance fails with them instead of succeeding."""
    done = {"f1": 0.91, "errors": []}
    en_end = Step("failed", 80, {"errors": intent_en_errors}, after_calls=2) if intent_en_errors else None
    emu.opensearch.add_task(
        APP, "query_intent", "zh", 301, [Step("running", 90), Step("success", 100, done, after_calls=1)]
    )
    # A second instance is created at minute 22: the listing at minute 30 finds it.
    emu.opensearch.add_task(
        APP,
        "query_intent",
        "en",
        401,
        [Step("running", 80), en_end or Step("success", 100, done, after_calls=2)],
        appear_after_seconds=22 * 60,
    )
    emu.opensearch.add_task(
        APP,
        "ltr_ranker",
        "prod",
        1001,
        [
            Step("running", 0),
            Step("running", 20, after_calls=1),
            Step("running", 35, after_calls=2),
            Step("running", 60, after_calls=3),
            Step("running", 85, after_calls=5),
            Step("success", 100, {"recall@50": 0.924, "ndcg@10": 0.613, "errors": []}, after_calls=6),
        ],
    )
    emu.opensearch.add_task(
        APP, "ltr_ranker", "prod", 1002, [Step("running", 5)], appear_after_calls=9
    )  # a new run starts later
    emu.opensearch.add_task(
        APP,
        "ltr_ranker",
        "canary",
        2001,
        [
            Step("running", 10),
            Step("running", 20, after_calls=1),
            Step("running", 30, after_calls=6),
            Step("failed", 30, {"errors": ["worker 3: CUDA out of memory", "aborted after 3 retries"]}, after_calls=8),
        ],
    )


def render_terminal(text: str, color: bool) -> str:
    """DingTalk markdown, made readable in a terminal."""
    bold, reset = ("\033[1m", "\033[0m") if color else ("", "")
    out = []
    for line in text.splitlines():
        line = re.sub(r"^#+\s*", "", line)
        line = re.sub(r"\*\*(.+?)\*\*", rf"{bold}\1{reset}", line)
        out.append(f"    │ {line}" if line else "    │")
    return "\n".join(out)


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("TASKWATCH_", "DINGTALK_", "ALIBABA_CLOUD_", "ALIYUN_")) or "proxy" in name.lower():
            del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_demo(speed: float = 1.0, out: TextIO | None = None, pause: float = 0.6) -> int:
    from taskwatch.fc import handle  # exactly what handler/index.py:handler calls
    from taskwatch.wiring import Wiring

    if not math.isfinite(speed) or speed <= 0:
        # 0 would pause forever between ticks; the CLI refuses it before it gets here
        raise ValueError(f"speed must be a number above 0, not {speed!r}")
    stream = out or sys.stdout
    color = stream.isatty()
    clock = ManualClock(START)
    delay = max(0.0, pause / speed)
    received: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="taskwatch-demo-"),
        Emulator(
            access_key_id="STS.DemoAccessKeyId",
            access_key_secret="demo-secret",  # the emulator's own throwaway keys
            security_token="demo-sts-token",
            dingtalk_secret="SECdemo-robot-secret",
            keyword="taskwatch",
            clock=clock,
            auth_clock=time.time,
        ) as emu,
    ):
        script(emu)
        emu.dingtalk.on_message = received.append
        env = emu.env(bucket="demo-state", prefix="taskwatch")
        env.update(
            TASKWATCH_TARGETS=f"{MAIN}, {CANARY}, {INTENT}",
            TASKWATCH_DISCOVER_MINUTES="15",
            DINGTALK_AT_MOBILES=MOBILE,
            TASKWATCH_STALL_MINUTES="20",
            TASKWATCH_PROGRESS_STEP="25",
        )
        stream.write(
            f"taskwatch demo: emulated OpenSearch {emu.opensearch_endpoint}, OSS {emu.oss_endpoint}, "
            f"DingTalk {emu.dingtalk.endpoint}\nwatching {MAIN} (latest run), {CANARY} and every instance of "
            f"{INTENT} (listed every 15 minutes); "
            f"one timer tick every {TICK_MINUTES} virtual minutes\n\n"
        )
        # The emulator's clock is taskwatch's too; the clients are this run's own.
        wiring = Wiring(clock=lambda: int(clock() * 1000), in_fc=True)
        failures = 0
        with _env(env):
            for number in range(1, TICKS + 1):
                stamp = datetime.fromtimestamp(clock(), tz=timezone.utc)
                event = {"triggerTime": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": "timer", "payload": ""}
                context = SimpleNamespace(request_id=f"demo-tick-{number}", region="cn-hangzhou")
                before = len(received)
                try:
                    answer = json.loads(_quiet(handle, json.dumps(event).encode(), context, wiring))
                    summary = f"{len(answer['changes'])} change(s)"
                except RuntimeError as err:
                    failures += 1
                    summary = f"failed: {err}"
                stream.write(f"[tick {number:2d} · {stamp:%H:%M} UTC] {summary}\n")
                for message in received[before:]:
                    stream.write(f"  💬 DingTalk: {message['markdown']['title']}\n")
                    stream.write(render_terminal(message["markdown"]["text"], color) + "\n")
                stream.flush()
                clock.advance(TICK_MINUTES * 60)
                time.sleep(delay)
        stream.write(
            f"\n{len(received)} DingTalk messages in {TICKS} ticks, every request signature-checked by the emulator.\n"
            "Next: set TASKWATCH_TARGETS and your keys and run `taskwatch check`, or deploy with `s deploy` (README).\n"
        )
    return 0 if failures == 0 and received else 1


def _quiet(handle: Any, event: bytes, context: Any, wiring: Any) -> str:
    """The JSON log lines go to stderr in FC; the demo shows the messages instead."""
    import io

    saved, sys.stderr = sys.stderr, io.StringIO()
    try:
        answer: str = handle(event, context, wiring)
        return answer
    finally:
        sys.stderr = saved
