"""The channels section: each platform's 300-change digest (bench/channel_digests.py), and the
calls of ticks with three channels of different types configured in one config file.

The ticks run like sections 2-4: the function in a fresh process (bench/tick_child.py) against the
emulator in this process, whose chat fakes count every request they receive.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.channel_digests import arm, channel_table, digest_rows, fake
from bench.common import bench_emulator, child_env
from bench.runtimes import Runtime
from bench.ticks import Child, count_calls, make_targets

TICK_CHANNELS = ("wecom", "feishu", "slack")  # three styles: markdown + mention text, a signed card, blocks
TICK_TARGETS = 10
FAILING = 3  # targets whose run fails in the change tick: urgent, so WeCom sends its mention text too
TICK_PLAN = ("first", "idle", "change", "idle_after")


def expected_requests(channel: str, urgent: bool) -> int:
    """One request per channel for a digest, and WeCom's mention text after an urgent one."""
    return 1 + (channel == "wecom" and urgent)


def channel_tick(runtime: Runtime, log_dir: Path, targets: int = TICK_TARGETS) -> dict[str, Any]:
    """A first tick (every target "now watching"), an idle tick, a tick where FAILING runs fail,
    and an idle tick again, with the TICK_CHANNELS configured; each tick's calls per service."""
    from taskwatch_emulator import Step

    specs = make_targets(targets)
    config = log_dir / "three-channels.toml"
    with bench_emulator() as emu:
        arm(emu)
        for spec in specs:
            steps = [Step("running", 40, {"recall": 88, "errors": []})]
            emu.opensearch.add_task(spec.app_group, spec.function, spec.instance, spec.generation, steps)
        config.write_text(
            "".join(channel_table(emu, kind) for kind in TICK_CHANNELS)
            + "[[watch]]\ntargets = [\n"
            + "".join(f'  "{s.setting()}",\n' for s in specs)
            + "]\n",
            encoding="utf-8",
        )
        # DINGTALK_WEBHOOK stays set, as emu.env gives it: a file with channels must win over it.
        env = child_env({**emu.env(bucket="bench-state", prefix="tw"), "TASKWATCH_CONFIG": f"file://{config}"})
        env.pop("TASKWATCH_TARGETS", None)
        chats = [fake(emu, kind) for kind in TICK_CHANNELS]
        child = Child(runtime, env, log_dir / f"channels-{runtime.key}.log", timeout=300)
        ticks: dict[str, Any] = {}
        try:
            child.read()
            for name in TICK_PLAN:
                if name == "change":
                    for spec in specs[:FAILING]:
                        emu.opensearch.set_task(
                            spec.app_group,
                            spec.function,
                            spec.instance,
                            spec.generation,
                            "failed",
                            40,
                            {"recall": 12, "errors": ["OOMKilled: worker 3", "exit code 137"]},
                        )
                for svc in (emu.opensearch, emu.oss, emu.dingtalk, *chats):
                    svc.reset_calls()
                answer = child.ask("tick")
                if answer.get("error"):
                    raise RuntimeError(f"three-channel tick {name} failed: {answer['error']}")
                calls = count_calls(emu)
                ticks[name] = {
                    "wall_s": answer["wall_s"],
                    "changes": answer["changes"],
                    "sent": answer["sent"],
                    "opensearch": calls["opensearch"],
                    "oss_reads": calls["oss_reads"],
                    "oss_writes": calls["oss_writes"],
                    "oss_by_method": calls["oss_by_method"],
                    "dingtalk": calls["dingtalk"],
                    "chat": {kind: svc.count() for kind, svc in zip(TICK_CHANNELS, chats, strict=True)},
                }
        finally:
            child.close()
        problems = [e for svc in (emu.opensearch, emu.oss, emu.dingtalk, *chats) for e in svc.errors]
    change = ticks["change"]
    expected = {kind: expected_requests(kind, urgent=True) for kind in TICK_CHANNELS}
    idle_ok = all(
        ticks[name]["oss_writes"] == 0 and not any(ticks[name]["chat"].values()) and ticks[name]["dingtalk"] == 0
        for name in ("idle", "idle_after")
    )
    return {
        "runtime": runtime.label,
        "targets": targets,
        "channels": list(TICK_CHANNELS),
        "failing": FAILING,
        "ticks": ticks,
        "expected_change_requests": expected,
        "change_met": change["chat"] == expected and change["dingtalk"] == 0,
        "idle_met": idle_ok,
        "emulator_errors": len(problems),
    }


def channels_section(runtime: Runtime, runs: int, log_dir: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    progress(f"channels: a 300-change digest on each platform ({runs} renders each)")
    digests = digest_rows(runs)
    progress(f"channels: ticks with {', '.join(TICK_CHANNELS)} configured")
    tick = channel_tick(runtime, log_dir)
    return {"digests": digests, "tick": tick}
