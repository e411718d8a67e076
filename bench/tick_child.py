"""The function's side of the tick benchmark: one fresh process per run, driven by bench/run.py.

    python -I -S -B bench/tick_child.py '["<code dir>", "<code dir>/python"]'

It imports ``index`` from the given code directories only (like FC's /code), then answers one
command per line on stdin, one ``BENCH {json}`` line per command on stdout:

- ``tick``: one timer event through ``index.handler``; wall and CPU time, peak RSS so far.
- ``modules``: the top-level packages loaded so far (to check what a tick really imports).
- ``quit``.

Standard library only: it runs under the package's own Python, where nothing else is installed.
The emulator runs in the parent process, so the RSS and CPU time here are the function's alone.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

TIMER_EVENT = json.dumps({"triggerTime": "2026-11-19T00:00:00Z", "triggerName": "timer", "payload": ""}).encode()


class Function:
    name = "taskwatch"
    handler = "index.handler"
    memory = 128
    timeout = 180


class Context:
    """FC 3.0 python3.12 context: no credentials attribute (they come in ALIBABA_CLOUD_* variables)."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.region = "cn-hangzhou"
        self.account_id = "1234567890"
        self.function = Function()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def say(data: dict[str, Any]) -> None:
    sys.stdout.write("BENCH " + json.dumps(data) + "\n")
    sys.stdout.flush()


def main() -> int:
    sys.path[:0] = json.loads(sys.argv[1])
    started = time.perf_counter()
    import index

    say({"ready": True, "import_s": time.perf_counter() - started, "rss_mb": peak_rss_mb()})
    ticks = 0
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command == "modules":
            say({"modules": sorted({name.partition(".")[0] for name in sys.modules})})
            continue
        if command != "tick":
            say({"error": f"unknown command {command!r}"})
            continue
        ticks += 1
        cpu0, wall0 = cpu_s(), time.perf_counter()
        answer: Any = None
        error = None
        try:
            answer = json.loads(index.handler(TIMER_EVENT, Context(f"bench-{ticks}")))
        except Exception as err:
            error = f"{type(err).__name__}: {err}"[:300]
        wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
        say(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "max_rss_mb": peak_rss_mb(),
                "error": error,
                "changes": len(answer["changes"]) if answer else None,
                "sent": answer["sent"] if answer else None,
                "saved": answer["saved"] if answer else None,
                "read_failures": len(answer["readFailures"]) if answer else None,
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
