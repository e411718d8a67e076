"""Sections 2-4: ticks through index.handler in a fresh function process, against the emulator.

The function process is bench/tick_child.py (driven line by line); the emulator runs in this process,
so the child's CPU time and peak RSS are the function's own, and this process's CPU time during a
tick is the emulator's.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import SDK_MODULES, TICK_CHILD, bench_emulator, child_env
from bench.runtimes import Runtime


@dataclass(frozen=True)
class TargetSpec:
    app_group: str
    function: str
    instance: str
    generation: int
    pinned: bool  # "@<generation>" (GetFunctionTask) or "@latest" (ListFunctionTasks)

    def setting(self) -> str:
        at = str(self.generation) if self.pinned else "latest"
        return f"{self.app_group}/{self.function}/{self.instance}@{at}"


def make_targets(count: int) -> list[TargetSpec]:
    """Half pinned to a generation, half ``@latest``: both read paths, one call each when idle."""
    return [TargetSpec(f"bench_app{i % 10}", f"fn{i}", f"inst{i}", 1_700_000_000 + i, i % 2 == 0) for i in range(count)]


def count_calls(emu: Any) -> dict[str, Any]:
    oss_by_method: dict[str, int] = {}
    with emu.oss.lock:
        for call in emu.oss.calls:
            oss_by_method[call.method] = oss_by_method.get(call.method, 0) + 1
    reads = oss_by_method.get("GET", 0) + oss_by_method.get("HEAD", 0)
    return {
        "opensearch": emu.opensearch.count(),
        "oss_reads": reads,
        "oss_writes": sum(n for m, n in oss_by_method.items() if m in ("PUT", "POST", "DELETE")),
        "oss_by_method": oss_by_method,
        "dingtalk": emu.dingtalk.count(),
    }


class Child:
    """The function process of one tick run (bench/tick_child.py), driven line by line."""

    def __init__(self, runtime: Runtime, env: dict[str, str], log: Path, timeout: float) -> None:
        self._log = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(  # noqa: S603
            runtime.command(str(TICK_CHILD), json.dumps(list(runtime.paths))),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,  # the function's JSON log lines; kept for a failure's post-mortem
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        self._watchdog = threading.Timer(timeout, self.proc.kill)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.log_path = log

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("BENCH "):
                data: dict[str, Any] = json.loads(line[len("BENCH ") :])
                return data
        tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"tick child exited ({self.proc.wait()}); log tail:\n{tail}")

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self._watchdog.cancel()
            self._log.close()


def _parent_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tick_run(
    runtime: Runtime, targets: int, concurrency: int, latency: float, idle_ticks: int, with_change: bool, log_dir: Path
) -> dict[str, Any]:
    """A fresh emulator and a fresh function process: first tick, ``idle_ticks`` idle ticks, a one-change tick."""
    from taskwatch_emulator import Step

    specs = make_targets(targets)
    with bench_emulator() as emu:
        emu.opensearch.latency = latency
        for spec in specs:
            emu.opensearch.add_task(
                spec.app_group,
                spec.function,
                spec.instance,
                spec.generation,
                [Step("running", 40, {"recall": 88, "errors": []})],
            )
        env = child_env(
            {
                **emu.env(bucket="bench-state", prefix="tw"),
                "TASKWATCH_TARGETS": "\n".join(s.setting() for s in specs),
                "TASKWATCH_CONCURRENCY": str(concurrency),
            }
        )
        child = Child(runtime, env, log_dir / f"tick-{runtime.key}-{targets}-c{concurrency}.log", timeout=600)
        try:
            ready = child.read()
            ticks: dict[str, Any] = {}
            plan = ["first"] + [f"idle{i + 1}" for i in range(idle_ticks)] + (["change"] if with_change else [])
            for name in plan:
                if name == "change":
                    first = specs[0]
                    emu.opensearch.set_task(
                        first.app_group,
                        first.function,
                        first.instance,
                        first.generation,
                        "success",
                        100,
                        {"recall": 91},
                    )
                for svc in (emu.opensearch, emu.oss, emu.dingtalk):
                    svc.reset_calls()
                cpu0 = _parent_cpu_s()
                answer = child.ask("tick")
                answer["emulator_cpu_s"] = _parent_cpu_s() - cpu0
                answer["calls"] = count_calls(emu)
                if answer.get("error"):
                    raise RuntimeError(f"tick {name} at {targets} targets failed: {answer['error']}")
                ticks[name] = answer
            loaded = child.ask("modules")["modules"]
        finally:
            child.close()
        problems = emu.opensearch.errors + emu.oss.errors + emu.dingtalk.errors
        if problems:
            raise RuntimeError(f"emulator errors: {problems[0][:500]}")
    idle = [ticks[f"idle{i + 1}"] for i in range(idle_ticks)]
    idle_wall = statistics.median(t["wall_s"] for t in idle)
    opensearch_calls = sum(t["calls"]["opensearch"] for t in idle)
    emulator_cpu = sum(t["emulator_cpu_s"] for t in idle)
    return {
        "targets": targets,
        "concurrency": concurrency,
        "latency_s": latency,
        "import_s": ready["import_s"],
        "rss_after_import_mb": ready["rss_mb"],
        "first_s": ticks["first"]["wall_s"],
        "first_cpu_s": ticks["first"]["cpu_s"],
        "idle_s": idle_wall,
        "idle_all_s": [t["wall_s"] for t in idle],
        "idle_cpu_s": statistics.median(t["cpu_s"] for t in idle),
        "idle_over_latency": idle_wall / latency if latency else None,
        "sequential_s": targets * latency,
        "speedup_vs_sequential": (targets * latency) / idle_wall if idle_wall else None,
        "peak_rss_mb": max(t["max_rss_mb"] for t in ticks.values()),
        "emulator_cpu_s_per_request": emulator_cpu / opensearch_calls if opensearch_calls else None,
        "ticks": ticks,
        "sdk_modules_loaded_by_ticks": sorted(set(loaded) & set(SDK_MODULES)),
        "top_level_modules_loaded": loaded,
    }
