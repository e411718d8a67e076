"""Connections a warm instance opens: the first tick of a process, then the second.

A warm Function Compute instance runs many ticks in one process; each new TCP (and, in the cloud,
TLS) connection costs a handshake on 0.1 vCPU. The emulator counts the connections it accepts per
service; the goal for the second tick is 0. Both ticks change something, so the second one reads,
claims, delivers and saves (every client is used).

    .venv/bin/python bench/warm_connections.py [--targets N] [--json PATH] [--snapshot bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handler"), str(ROOT / "emulator")]
MARK_START, MARK_END = "<!-- warm-connections -->", "<!-- /warm-connections -->"
LATENCY_S = 0.05  # per OpenSearch and OSS call, as in bench/run.py's tick runs
EVENT = b'{"triggerTime": "2026-11-19T00:00:00Z", "triggerName": "timer", "payload": ""}'


class _Context:
    request_id = "bench-warm"
    credentials = None


def measure(targets: int) -> dict[str, Any]:
    import index
    from taskwatch_emulator import Emulator, ManualClock, Step

    for name in list(os.environ):
        if "PROXY" in name.upper() or name.startswith(("ALIYUN_", "TASKWATCH_", "DINGTALK_", "ALIBABA_CLOUD_")):
            del os.environ[name]
    clock = ManualClock(time.time())  # taskwatch signs with the real clock
    with Emulator(access_key_id="STS.BenchKey", security_token="bench-token", clock=clock, auth_clock=time.time) as emu:
        # A kept pool holds as many connections as the most calls a tick had in flight, so a second
        # tick whose reads happen to overlap more than the first's opens the difference (on loopback
        # a call ends in ~1 ms and the overlap is luck). With a network's latency every call of a
        # tick overlaps, both ticks reach the same peak, and any new connection is a rebuilt client.
        emu.opensearch.latency = emu.oss.latency = LATENCY_S
        os.environ.update(emu.env(bucket="bench-warm"))
        os.environ["TASKWATCH_TARGETS"] = ",".join(f"app/fn/i{n}" for n in range(targets))
        tasks = [emu.opensearch.add_task("app", "fn", f"i{n}", 7, [Step("running", 10)]) for n in range(targets)]
        services = {"opensearch": emu.opensearch, "oss": emu.oss, "dingtalk": emu.dingtalk}
        counts: list[dict[str, int]] = []
        for tick in range(2):
            before = {name: svc.connections for name, svc in services.items()}
            index.handler(EVENT, _Context())
            counts.append({name: svc.connections - before[name] for name, svc in services.items()})
            if tick == 0:
                tasks[0].steps = [Step("success", 100)]
        messages = len(emu.dingtalk.messages)
    return {"targets": targets, "latency_s": LATENCY_S, "first": counts[0], "second": counts[1], "messages": messages}


def render(result: dict[str, Any]) -> str:
    rows = [
        "| service | first tick of a process | second tick (goal 0) |",
        "|---|---|---|",
        *(f"| {name} | {result['first'][name]} | {result['second'][name]} |" for name in result["first"]),
    ]
    return "\n".join(
        [
            MARK_START,
            f"### Connections opened by a warm instance ({result['targets']} targets, both ticks deliver, "
            f"{result.get('latency_s', LATENCY_S) * 1000:.0f} ms per OpenSearch and OSS call)",
            "",
            *rows,
            "",
            "Command: `.venv/bin/python bench/warm_connections.py --snapshot bench/RESULTS.md`",
            MARK_END,
        ]
    )


def write_snapshot(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(MARK_START) + r".*?" + re.escape(MARK_END), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=20, help="watched targets (default 20)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("--snapshot", default=None, help="replace the figures' section in this Markdown file")
    args = parser.parse_args(argv)
    if args.targets < 1:
        parser.error(f"--targets must be at least 1, not {args.targets}")
    result = measure(args.targets)
    section = render(result)
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.snapshot:
        write_snapshot(Path(args.snapshot), section)
    return 0 if not any(result["second"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
