"""`taskwatch demo`: a whole training run against the local emulator, printed as the team would see it.

Two tasks play a scripted timeline: the main run climbs from 0% to success with metrics, then its
next run starts, climbs and ends with a worse recall (a regression); a canary run stalls and fails
with errors, and is told again an hour later (a reminder). Times show in Asia/Shanghai, and a short
quiet window holds the changes that are not urgent while the failure still goes out at once. The
daily summary ends the run. Each tick is a real FC-shaped timer event through the function's
handler; the virtual clock moves 5 minutes per tick, so the whole afternoon plays in a few seconds.
Nothing leaves 127.0.0.1 and no account is needed.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
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
TICKS = 21
# How the team reads times. Asia/Shanghai has no daylight saving time, so the demo's own lines can
# show it as the fixed offset the function's messages print beside each time.
ZONE = "Asia/Shanghai"
OFFSET = "+08:00"
ZONE_OFFSET = timezone(timedelta(hours=8))
# Short, so that two ticks fall inside it (17:35 and 17:40, the canary fails at 17:40); a team
# would set the night, e.g. 23:00-08:00.
QUIET_HOURS = "17:35-17:45"
REMIND_HOURS = 1  # the canary fails at 17:40: told again at 18:40
REGRESSION_PCT = 2
# Ticks where nothing is scripted to happen until the reminder is due: played without pauses and
# shown as one line, unless one of them does have something to show.
SKIMMED = range(16, TICKS)
NEXT_RUN_METRICS = {"recall@50": 0.897, "ndcg@10": 0.611, "errors": []}  # recall 2.9% lower: over 2%


def script(emu: Emulator, intent_en_errors: list[str] | None = None, *, next_run: bool = False) -> None:
    """The timeline, in ticks (one OpenSearch read per task per tick). With ``intent_en_errors``
    the wildcard's second instance fails with them instead of succeeding. With ``next_run`` the main
    run's next run starts at once after it (tick 8) and ends at tick 15 with a worse recall;
    without, it starts at tick 10 and keeps running (what ``--channels`` plays)."""
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
    if next_run:
        # 35 minutes where the first run took 30, and a recall 2.9% below the first run's.
        steps = [
            Step("running", 5),
            Step("running", 15, after_calls=1),
            Step("running", 40, after_calls=2),
            Step("running", 80, after_calls=5),
            Step("success", 100, NEXT_RUN_METRICS, after_calls=7),
        ]
        emu.opensearch.add_task(APP, "ltr_ranker", "prod", 1002, steps, appear_after_calls=7)
    else:
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


def local_clock(seconds: float) -> str:
    """``17:35 (+08:00)``: a tick's time as the messages show times."""
    return datetime.fromtimestamp(seconds, tz=ZONE_OFFSET).strftime("%H:%M") + f" ({OFFSET})"


def timer_event(seconds: float, name: str = "timer", payload: str = "") -> dict[str, str]:
    """The event FC's timer trigger sends at ``seconds``; ``triggerTime`` is UTC, as FC writes it."""
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return {"triggerTime": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": name, "payload": payload}


# --- The daily summary -----------------------------------------------------------------------------
# The function posts a summary to each channel when a timer event's payload is "summary" (the
# summary trigger in s.yaml, once a day). The demo ends with one such event, sent by this hook.
SUMMARY_PAYLOAD = "summary"


def summary_event(seconds: float) -> dict[str, str]:
    """The summary trigger's event at ``seconds``."""
    return timer_event(seconds, name="summary", payload=SUMMARY_PAYLOAD)


def send_summary(handle: Callable[..., Any], wiring: Any, seconds: float) -> Any:
    """Send the summary's timer event through ``handle`` (the function's handler), as FC would;
    its answer. The messages it posts reach the chat fakes like a tick's."""
    context = SimpleNamespace(request_id="demo-summary", region="cn-hangzhou")
    return _quiet(handle, json.dumps(summary_event(seconds)).encode(), context, wiring)


class _Show:
    """Sends the demo's events through the handler and prints what each one posted."""

    def __init__(self, stream: TextIO, handle: Callable[..., Any], wiring: Any, clock: ManualClock) -> None:
        self.stream = stream
        self.color = stream.isatty()
        self.handle = handle
        self.wiring = wiring
        self.clock = clock
        self.received: list[dict[str, Any]] = []
        self.failures = 0

    def tick(self, number: int) -> tuple[str, int, int, list[dict[str, Any]]]:
        """One timer tick: its one-line summary, the changes its answer lists (-1 if it failed),
        how many of them wait for the quiet hours to end, and the messages it posted."""
        event = json.dumps(timer_event(self.clock())).encode()
        context = SimpleNamespace(request_id=f"demo-tick-{number}", region="cn-hangzhou")
        before = len(self.received)
        try:
            answer: dict[str, Any] = json.loads(_quiet(self.handle, event, context, self.wiring))
        except RuntimeError as err:
            self.failures += 1
            return f"failed: {err}", -1, 0, self.received[before:]
        changes = answer["changes"]
        summary = f"{len(changes)} change(s)"
        held = sum(1 for c in changes if "held" in c["channels"].values())
        if held:
            summary += f", {held} held until the quiet hours end"
        return summary, len(changes), held, self.received[before:]

    def show(self, head: str, messages: list[dict[str, Any]]) -> None:
        self.stream.write(head + "\n")
        for message in messages:
            self.stream.write(f"  💬 DingTalk: {message['markdown']['title']}\n")
            self.stream.write(render_terminal(message["markdown"]["text"], self.color) + "\n")
        self.stream.flush()

    def summary(self) -> None:
        """The summary's event, after the last tick."""
        before = len(self.received)
        try:
            send_summary(self.handle, self.wiring, self.clock())
            outcome = f'the daily summary: the summary trigger\'s timer event (payload "{SUMMARY_PAYLOAD}"), sent now'
        except RuntimeError as err:
            self.failures += 1
            outcome = f"failed: {err}"
        self.show(f"[summary · {local_clock(self.clock())}] {outcome}", self.received[before:])


def run_demo(
    speed: float = 1.0, out: TextIO | None = None, pause: float = 0.6, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Play the demo; ``pause`` seconds after each tick that posted a message (half after one that
    did not) at ``speed`` 1, waited by ``sleep``."""
    from taskwatch.fc import handle  # exactly what handler/index.py:handler calls
    from taskwatch.insight import in_quiet, zone
    from taskwatch.wiring import Wiring

    if not math.isfinite(speed) or speed <= 0:
        # 0 would pause forever between ticks; the CLI refuses it before it gets here
        raise ValueError(f"speed must be a number above 0, not {speed!r}")
    stream = out or sys.stdout
    clock = ManualClock(START)
    delay = max(0.0, pause / speed)
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
        script(emu, next_run=True)
        env = emu.env(bucket="demo-state", prefix="taskwatch")
        env.update(
            TASKWATCH_TARGETS=f"{MAIN}, {CANARY}, {INTENT}",
            TASKWATCH_DISCOVER_MINUTES="15",
            DINGTALK_AT_MOBILES=MOBILE,
            TASKWATCH_STALL_MINUTES="20",
            TASKWATCH_PROGRESS_STEP="25",
            TASKWATCH_TIMEZONE=ZONE,
            TASKWATCH_QUIET_HOURS=QUIET_HOURS,
            TASKWATCH_REMIND_HOURS=str(REMIND_HOURS),
            TASKWATCH_REGRESSION_PCT=str(REGRESSION_PCT),
        )
        stream.write(
            f"taskwatch demo: emulated OpenSearch {emu.opensearch_endpoint}, OSS {emu.oss_endpoint}, "
            f"DingTalk {emu.dingtalk.endpoint}\nwatching {MAIN} (latest run), {CANARY} and every instance of "
            f"{INTENT} (listed every 15 minutes); one timer tick every {TICK_MINUTES} virtual minutes\n"
            f"times in {ZONE}; quiet hours {QUIET_HOURS} (short, for the demo); a failed run told again "
            f"every {REMIND_HOURS}h; a metric {REGRESSION_PCT}% worse than the last successful run is a regression\n\n"
        )
        # The emulator's clock is taskwatch's too; the clients are this run's own.
        show = _Show(stream, handle, Wiring(clock=lambda: int(clock() * 1000), in_fc=True), clock)
        emu.dingtalk.on_message = show.received.append
        quiet, held = False, 0
        skimmed: list[float] = []  # ticks of SKIMMED that had nothing to show, not printed yet
        with _env(env):
            for number in range(1, TICKS + 1):
                now = clock()
                if in_quiet(QUIET_HOURS, int(now * 1000), zone(ZONE)) != quiet:
                    quiet = not quiet
                    stream.write(_skimmed(skimmed) + _quiet_news(now, quiet, held))
                summary, count, held, messages = show.tick(number)
                clock.advance(TICK_MINUTES * 60)
                if number in SKIMMED and count == 0 and not messages:
                    skimmed.append(now)  # nothing to see: no pause, one line for the lot
                    continue
                stream.write(_skimmed(skimmed))
                show.show(f"[tick {number:2d} · {local_clock(now)}] {summary}", messages)
                sleep(delay if messages else delay / 2)  # a line alone is read at a glance
            stream.write(_skimmed(skimmed))
            show.summary()
        stream.write(
            f"\n{len(show.received)} DingTalk messages in {TICKS} ticks and a summary, every request signature-checked "
            "by the emulator.\nNext: set TASKWATCH_TARGETS and your keys and run `taskwatch check`, or deploy with "
            "`s deploy` (README).\n"
        )
    return 0 if show.failures == 0 and show.received else 1


def _quiet_news(now: float, starts: bool, held: int) -> str:
    """The narration line when the quiet window starts or ends."""
    if starts:
        return (
            f"  🌙 {local_clock(now)} quiet hours begin ({QUIET_HOURS}): changes that are not urgent wait "
            "in the outbox, urgent ones go out at once\n"
        )
    return f"  ☀️ {local_clock(now)} quiet hours end: the {held} change(s) that waited go out in this tick's digest\n"


def _skimmed(ticks: list[float]) -> str:
    """One line for ticks with nothing to show (emptying ``ticks``)."""
    if not ticks:
        return ""
    first, last = ticks[0], ticks[-1]
    numbers = [round((t - START) / (TICK_MINUTES * 60)) + 1 for t in (first, last)]
    ticks.clear()
    return (
        f"[ticks {numbers[0]}-{numbers[1]} · {local_clock(first)[:5]}-{local_clock(last)}] 0 change(s) each, "
        "played without pauses\n"
    )


def _quiet(handle: Any, event: bytes, context: Any, wiring: Any) -> str:
    """The JSON log lines go to stderr in FC; the demo shows the messages instead."""
    import io

    saved, sys.stderr = sys.stderr, io.StringIO()
    try:
        answer: str = handle(event, context, wiring)
        return answer
    finally:
        sys.stderr = saved
