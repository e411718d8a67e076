#!/usr/bin/env python3
"""taskwatch benchmark: cold start, tick time, calls per tick, memory, package size, cost.

    .venv/bin/python bench/run.py            # full run (~6 min): builds the code packages first
    .venv/bin/python bench/run.py --quick    # smoke version (~15 s): small sizes, dev venv only

Prints a table (Markdown) and writes it as JSON to bench/results/latest.json; a full run also
rewrites bench/RESULTS.md (the committed snapshot). See bench/README.md for what each row means.

Layout of a measurement:
- the function always runs in a fresh child process with only its code directories on sys.path
  (``-I -S``; the built package ``build/package`` + ``python/`` like FC's /code, or handler/ + the
  venv's site-packages in --quick), so import costs, CPU time and peak RSS are the function's own;
- the emulator (fake OpenSearch, OSS, DingTalk on loopback) runs in this parent process, so its
  CPU and memory are not counted against the function (its own CPU is measured and reported).
"""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
SNAPSHOT = BENCH / "RESULTS.md"
CHILD = BENCH / "tick_child.py"
WARM = BENCH / "warm_connections.py"
HANDLER = REPO / "handler"
REQUIREMENTS = REPO / "infra" / "requirements-fc.txt"
PIP_CACHE = REPO / ".cache" / "pip"

# --- goals of issue #7 ------------------------------------------------------------------------
COLD_RATIO_GOAL = 1.15  # cold start (index + what a tick imports) / SDK-only baseline
TICK_GOALS_S = {100: 0.5, 500: 2.5}
RSS_GOAL_MB = 80.0
ZIP_GOAL_MB = 12.0
SDK_MODULES = ("aliyunsdkcore", "alibabacloud_oss_v2", "requests")

# --- FC 3.0 pricing (assumptions; see bench/README.md "Cost") ------------------------------------
TICKS_PER_MONTH = 60 * 24 * 30  # one tick per minute, 30-day month
FC_MEMORY_GB = 0.125  # s.yaml memorySize 128
FC_VCPU = 0.1  # s.yaml cpu 0.1
CU_PER_INVOCATION = 75 / 10_000  # FC 3.0 conversion factors (since 2024-08-27)
CU_PER_VCPU_S = 1.0
CU_PER_GB_S = 0.15
USD_PER_CU = 0.000020  # tier 1 (first 100 million CU a month), list price

CREDENTIALS = {
    "access_key_id": "STS.BenchAccessKeyId",
    "access_key_secret": "bench-secret",
    "security_token": "bench-sts",
}


# === runtimes ===================================================================================


@dataclass(frozen=True)
class Runtime:
    """A Python and the code directories the function sees (nothing else on sys.path)."""

    key: str
    label: str
    python: str
    paths: tuple[str, ...]
    flags: tuple[str, ...] = ("-I", "-S", "-B")
    wrap: tuple[str, ...] = ()  # e.g. CpuLimit.wrap: run inside a CPU-limited cgroup

    def command(self, *args: str) -> list[str]:
        return [*self.wrap, self.python, *self.flags, *args]

    def limited(self, limit: CpuLimit) -> Runtime:
        return replace(
            self, key=f"{self.key}@{limit.vcpu}cpu", label=f"{self.label}, {limit.vcpu} vCPU", wrap=limit.wrap
        )


class CpuLimit:
    """A cgroup with a CFS quota of ``vcpu`` CPUs, like FC's ``cpu: 0.1`` (Linux, root; else unavailable)."""

    def __init__(self, vcpu: float) -> None:
        self.vcpu = vcpu
        self.path: Path | None = None
        self.problem: str | None = None
        period = 100_000
        quota = max(1000, int(vcpu * period))
        v2 = Path("/sys/fs/cgroup")
        v1 = Path("/sys/fs/cgroup/cpu")
        name = f"taskwatch-bench-{os.getpid()}"
        try:
            controllers = v2 / "cgroup.controllers"
            if controllers.exists() and "cpu" in controllers.read_text().split():
                path = v2 / name
                path.mkdir()
                (path / "cpu.max").write_text(f"{quota} {period}")
            elif (v1 / "cpu.cfs_quota_us").exists():
                path = v1 / name
                path.mkdir()
                (path / "cpu.cfs_period_us").write_text(str(period))
                (path / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                raise OSError("no cgroup cpu controller")
            self.path = path
        except OSError as err:
            self.problem = f"cannot create a CPU-limited cgroup: {err}"

    @property
    def wrap(self) -> tuple[str, ...]:
        assert self.path is not None
        # The shell moves itself into the cgroup, then becomes the Python process.
        return ("/bin/sh", "-c", f'echo $$ > {self.path / "cgroup.procs"} && exec "$@"', "sh")

    def close(self) -> None:
        if self.path is not None:
            try:
                self.path.rmdir()
            except OSError:
                pass
            self.path = None


def find_python312(explicit: str | None) -> str | None:
    candidates = [explicit, os.environ.get("TASKWATCH_PY312")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python3.12")))
    candidates += [shutil.which("python3.12")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def python_version(python: str) -> str:
    out = subprocess.run(  # noqa: S603
        [python, "-I", "-S", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def venv_runtime() -> Runtime:
    site = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    return Runtime(
        "venv",
        f"dev venv, CPython {platform.python_version()} (handler/ + site-packages, .pyc cached)",
        sys.executable,
        (str(HANDLER), site),
    )


def build_package(out: Path, python312: str | None, bytecode: bool = True) -> dict[str, Any]:
    """infra/build_package.py into ``out`` (the same command s.yaml's pre-deploy runs), compiling the
    bytecode with ``python312``; ``bytecode=False`` builds the sources-only package (``--no-bytecode``,
    what the build shipped before it compiled, and what it ships without a CPython 3.12)."""
    started = time.monotonic()
    command = [sys.executable, str(REPO / "infra" / "build_package.py"), "--out", str(out)]
    command += ["--pip-cache", str(PIP_CACHE)]
    command += ["--python312", python312] if python312 and bytecode else []
    command += [] if bytecode else ["--no-bytecode"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"bench: package build failed:\n{result.stdout}\n{result.stderr}")
    manifest = (out / "taskwatch-fc.manifest").read_text(encoding="utf-8").splitlines()
    return {
        "out": str(out),
        "seconds": time.monotonic() - started,
        "mode": manifest[0].removeprefix("# ") if manifest and manifest[0].startswith("#") else "unknown",
        "log": result.stdout.strip().splitlines(),
    }


def reuse_build(out: Path) -> dict[str, Any] | None:
    """``--reuse-build``: a previous build in ``out``, if there is one."""
    manifest = out / "taskwatch-fc.manifest"
    if not (out / "package" / "index.py").is_file() or not manifest.is_file():
        return None
    first = manifest.read_text(encoding="utf-8").split("\n", 1)[0]
    mode = first.removeprefix("# ") if first.startswith("#") else "unknown (an older build: no mode in its manifest)"
    return {"out": str(out), "seconds": None, "mode": mode, "log": ["reused"]}


# === 1. cold start ==============================================================================

COLD_TEMPLATE = """\
import sys, time
_t0 = time.perf_counter()
sys.path[:0] = {paths!r}
{body}
_import_s = time.perf_counter() - _t0
import json, resource
_out = {{"import_s": _import_s, "modules": len(sys.modules),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}
{extra}
print("BENCH " + json.dumps(_out))
"""

HEALTHZ_EVENT = {
    "version": "v1",
    "rawPath": "/healthz",
    "body": "",
    "isBase64Encoded": False,
    "headers": {"Host": "tw.cn-hangzhou.fcapp.run", "User-Agent": "bench", "Accept": "*/*"},
    "queryParameters": {},
    "requestContext": {
        "accountId": "1234567890",
        "domainName": "tw.cn-hangzhou.fcapp.run",
        "domainPrefix": "tw",
        "http": {"method": "GET", "path": "/healthz", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
        "requestId": "bench-healthz",
        "time": "2026-11-19T00:00:00Z",
        "timeEpoch": "1795000000000",
    },
}

# What a timer tick imports, done without network: the modules fc.handle_timer imports, the clients
# built from settings (their constructors import the SDKs), and the modules first used by a call.
TICK_IMPORTS = """\
import os, index
from taskwatch.wiring import build_services
from taskwatch.settings import load_settings
build_services(load_settings(os.environ, None, in_fc=True))
import aliyunsdkcore.acs_exception.exceptions, aliyunsdkcore.request, requests"""

HEALTHZ_BODY = f"""\
import index
class _Ctx:
    request_id = "bench-healthz"
    region = "cn-hangzhou"
_answer = index.handler({json.dumps(HEALTHZ_EVENT).encode()!r}, _Ctx())"""

HEALTHZ_EXTRA = f"""\
_out["status"] = _answer.get("statusCode")
_out["body"] = _answer.get("body")
_watched = {sorted(set(SDK_MODULES) | {"urllib3", "cryptography"})!r}
_out["sdk_loaded"] = sorted({{m.partition(".")[0] for m in sys.modules}} & set(_watched))"""

COLD_VARIANTS: dict[str, tuple[str, str, str]] = {
    # key: (label, body, extra)
    "python": ("interpreter only (floor)", "pass", ""),
    "requests": ("baseline: import requests", "import requests", ""),
    "sdk": (
        "baseline: SDKs a tick needs (aliyunsdkcore client+request, alibabacloud_oss_v2, requests)",
        "import aliyunsdkcore.client, aliyunsdkcore.request, alibabacloud_oss_v2, requests",
        "",
    ),
    "index": ("import handler/index.py (what FC loads before any event)", "import index", ""),
    "index_tick": (
        "index + everything a timer tick imports (clients built, no network)",
        TICK_IMPORTS,
        '_out["taskwatch_modules"] = sorted(m for m in sys.modules if m.startswith("taskwatch"))',
    ),
    "healthz": ("index + one GET /healthz through index.handler", HEALTHZ_BODY, HEALTHZ_EXTRA),
}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no proxies (the SDK would send loopback calls through them), no ALIYUN_* keys."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC", "HOME": tempfile.gettempdir()}
    env.update(extra or {})
    return env


def settings_env() -> dict[str, str]:
    """Settings a tick's clients can be built from without any network."""
    return {
        "TASKWATCH_TARGETS": "bench_app/fn0/inst0@1700000000",
        "TASKWATCH_STATE": "oss://bench-state/tw",
        "TASKWATCH_REGION": "cn-hangzhou",
        "TASKWATCH_OPENSEARCH_ENDPOINT": "http://127.0.0.1:9",
        "TASKWATCH_OSS_ENDPOINT": "http://127.0.0.1:9",
        "DINGTALK_WEBHOOK": "http://127.0.0.1:9/robot/send?access_token=bench",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": CREDENTIALS["access_key_id"],
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": CREDENTIALS["access_key_secret"],
        "ALIBABA_CLOUD_SECURITY_TOKEN": CREDENTIALS["security_token"],
    }


def run_cold_child(runtime: Runtime, variant: str) -> dict[str, Any]:
    _, body, extra = COLD_VARIANTS[variant]
    program = COLD_TEMPLATE.format(paths=list(runtime.paths), body=body, extra=extra)
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603
        runtime.command("-c", program),
        capture_output=True,
        text=True,
        env=child_env(settings_env()),
        cwd=tempfile.gettempdir(),
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - started
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"cold-start child {variant} on {runtime.key} failed:\n{result.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(line[len("BENCH ") :])
    data["process_s"] = wall
    return data


def cold_start(runtime: Runtime, runs: int, progress: Callable[[str], None], *, warm_up: bool = True) -> dict[str, Any]:
    """Each variant ``runs`` times, interleaved in a shuffled order per round (drift hits all alike)."""
    variants = list(COLD_VARIANTS)
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for v in variants if warm_up else ():  # warm-up round, not counted: page cache, first-touch effects
        run_cold_child(runtime, v)
    rng = random.Random(7)
    for round_no in range(runs):
        order = variants[:]
        rng.shuffle(order)
        for v in order:
            samples[v].append(run_cold_child(runtime, v))
        progress(f"cold start {runtime.key}: round {round_no + 1}/{runs}")
    out: dict[str, Any] = {"runtime": runtime.label, "key": runtime.key, "runs": runs, "variants": {}}
    for v in variants:
        process = [s["process_s"] for s in samples[v]]
        imports = [s["import_s"] for s in samples[v]]
        out["variants"][v] = {
            "label": COLD_VARIANTS[v][0],
            "process_median_s": statistics.median(process),
            "process_min_s": min(process),
            "process_max_s": max(process),
            "process_all_s": process,
            "import_median_s": statistics.median(imports),
            "modules": samples[v][-1]["modules"],
            "rss_mb": max(s["rss_mb"] for s in samples[v]),
        }
        if v == "index_tick":
            out["timer_path_modules"] = samples[v][-1].get("taskwatch_modules", [])
        if v == "healthz":
            last = samples[v][-1]
            out["healthz"] = {
                "status": last.get("status"),
                "body": last.get("body"),
                "sdk_loaded": sorted({m for s in samples[v] for m in s.get("sdk_loaded", [])}),
            }
    med = {v: out["variants"][v]["process_median_s"] for v in variants}
    out["ratios"] = {
        "index_tick/sdk": med["index_tick"] / med["sdk"],
        "index_tick/requests": med["index_tick"] / med["requests"],
        "index/sdk": med["index"] / med["sdk"],
        "index/requests": med["index"] / med["requests"],
        "healthz/requests": med["healthz"] / med["requests"],
    }
    low = {v: out["variants"][v]["process_min_s"] for v in variants}
    out["ratios_of_minimums"] = {
        "index_tick/sdk": low["index_tick"] / low["sdk"],
        "index/sdk": low["index"] / low["sdk"],
    }
    return out


# === 2-4. ticks against the emulator ============================================================


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
            runtime.command(str(CHILD), json.dumps(list(runtime.paths))),
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
    from taskwatch_emulator import Emulator, Step

    specs = make_targets(targets)
    with Emulator(
        access_key_id=CREDENTIALS["access_key_id"],
        access_key_secret=CREDENTIALS["access_key_secret"],
        security_token=CREDENTIALS["security_token"],
        dingtalk_secret="SECbench-robot-secret",
    ) as emu:
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


# === 5. package size ============================================================================


def read_pins() -> list[str]:
    names = []
    for raw in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            names.append(line.split("==", 1)[0])
    return names


def package_from_zip(zip_path: Path, package: Path) -> dict[str, Any]:
    """Exact sizes from the built zip; each file is attributed to its distribution by RECORD."""
    owner: dict[str, str] = {}
    for record in sorted((package / "python").glob("*.dist-info/RECORD")):
        dist = record.parent.name[: -len(".dist-info")].rpartition("-")[0]
        for line in record.read_text(encoding="utf-8").splitlines():
            path = line.split(",", 1)[0]
            if path:
                owner[f"python/{path}"] = dist
        owner[f"python/{record.parent.name}/RECORD"] = dist
    dists: dict[str, dict[str, int]] = {}
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
    for info in infos:
        name = info.filename
        if not name.startswith("python/"):
            dist = "taskwatch (our code)"
        else:
            dist = owner.get(name) or ("(" + name.split("/")[1] + ")")
            if dist.startswith("(") and name.split("/")[1].endswith(".dist-info"):
                dist = name.split("/")[1][: -len(".dist-info")].rpartition("-")[0]
        entry = dists.setdefault(dist, {"files": 0, "bytes": 0, "zipped_bytes": 0})
        entry["files"] += 1
        entry["bytes"] += info.file_size
        entry["zipped_bytes"] += info.compress_size
    return {
        "source": f"built package {zip_path.relative_to(REPO) if zip_path.is_relative_to(REPO) else zip_path}",
        "exact": True,
        "zipped_bytes": zip_path.stat().st_size,
        "unzipped_bytes": sum(i.file_size for i in infos),
        "files": len(infos),
        "distributions": dists,
    }


def package_from_venv() -> dict[str, Any]:
    """--quick: estimate from the dev venv's installed distributions (same versions, this machine's wheels)."""
    dists: dict[str, dict[str, int]] = {}

    def add(dist: str, files: Iterable[Path]) -> None:
        entry = dists.setdefault(dist, {"files": 0, "bytes": 0, "zipped_bytes": 0})
        for path in files:
            if not path.is_file() or path.suffix == ".pyc":
                continue
            data = path.read_bytes()
            entry["files"] += 1
            entry["bytes"] += len(data)
            entry["zipped_bytes"] += len(zlib.compress(data, 1))

    add("taskwatch (our code)", (p for p in HANDLER.rglob("*") if "__pycache__" not in p.parts))
    for name in read_pins():
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        files = distribution.files or []
        add(distribution.metadata["Name"], (Path(str(distribution.locate_file(f))) for f in files))
    zipped = sum(d["zipped_bytes"] for d in dists.values())
    return {
        "source": "estimate from the dev venv (zlib level 1, no .pyc); run without --quick for the built zip",
        "exact": False,
        "zipped_bytes": zipped,
        "unzipped_bytes": sum(d["bytes"] for d in dists.values()),
        "files": sum(d["files"] for d in dists.values()),
        "distributions": dists,
    }


def package_summary(data: dict[str, Any]) -> dict[str, Any]:
    deps = {k: v for k, v in data["distributions"].items() if k != "taskwatch (our code)"}
    largest = sorted(deps.items(), key=lambda kv: kv[1]["bytes"], reverse=True)[:5]
    data["largest"] = [{"name": k, **v} for k, v in largest]
    data["zipped_mb"] = data["zipped_bytes"] / 1e6
    data["goal_mb"] = ZIP_GOAL_MB
    data["met"] = data["zipped_mb"] <= ZIP_GOAL_MB
    return data


# === 6. cost ====================================================================================


def cost_row(label: str, tick_s: float, cpu_s: float, measured_fc_s: float | None = None) -> dict[str, Any]:
    """FC 3.0 CU for a month of one tick a minute at 128 MB / 0.1 vCPU. The billed duration is the tick
    measured under a 0.1 vCPU cgroup when there is one, else projected from this machine's figures
    (CPU-bound work takes 1/0.1 = 10x longer on 0.1 vCPU)."""
    projected = max(tick_s, cpu_s / FC_VCPU)
    billed = measured_fc_s if measured_fc_s is not None else projected
    invocations = TICKS_PER_MONTH
    gb_s = FC_MEMORY_GB * billed * invocations
    vcpu_s = FC_VCPU * billed * invocations
    cu = invocations * CU_PER_INVOCATION + vcpu_s * CU_PER_VCPU_S + gb_s * CU_PER_GB_S
    return {
        "label": label,
        "tick_s_here": tick_s,
        "cpu_s_per_tick": cpu_s,
        "tick_s_projected_0_1_vcpu": projected,
        "tick_s_measured_0_1_vcpu": measured_fc_s,
        "billed_s": billed,
        "invocations_per_month": invocations,
        "gb_s_per_month": gb_s,
        "vcpu_s_per_month": vcpu_s,
        "cu_per_month": cu,
        "usd_per_month": cu * USD_PER_CU,
    }


def fc_cpu_section(
    cfg: Config,
    limit: CpuLimit,
    shipped: Runtime,
    sources: Runtime,
    concurrency: int,
    log_dir: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Cold starts and ticks with the function process limited to ``limit.vcpu`` CPUs (the emulator is not)."""
    section: dict[str, Any] = {"vcpu": limit.vcpu, "available": True, "cold_start": [], "ticks": []}
    for runtime in (shipped.limited(limit), sources.limited(limit)):
        section["cold_start"].append(cold_start(runtime, cfg.fc_runs, progress, warm_up=False))
    ticking = shipped.limited(limit)
    section["tick_runtime"] = ticking.label
    plan = [(n, concurrency) for n in cfg.fc_sizes] + [(cfg.fc_sizes[-1], c) for c in cfg.fc_sweep]
    for targets, value in plan:
        progress(f"{limit.vcpu} vCPU ticks: {targets} targets, concurrency {value}")
        run = tick_run(ticking, targets, value, cfg.latency, 2, False, log_dir)
        run.pop("top_level_modules_loaded", None)
        section["ticks"].append(run)
    return section


# === the run ====================================================================================


@dataclass
class Config:
    quick: bool
    cold_runs: int
    sizes: tuple[int, ...]
    sweep_targets: int
    sweep: tuple[int, ...]
    latency: float
    idle_ticks: int
    calls_size: int
    fc_cpu: float = 0.0
    fc_runs: int = 3
    fc_sizes: tuple[int, ...] = (100, 500)
    fc_sweep: tuple[int, ...] = (4, 64)


def config(args: argparse.Namespace) -> Config:
    if args.quick:
        cfg = Config(True, 3, (1, 5), 5, (2, 4), 0.05, 1, 5)
    else:
        cfg = Config(False, 11, (1, 10, 100, 500), 500, (8, 16, 32, 64), 0.05, 3, 10, FC_VCPU)
    if args.runs:
        cfg.cold_runs = args.runs
    if args.sizes:
        cfg.sizes = tuple(int(s) for s in args.sizes.split(","))
    if args.sweep:
        cfg.sweep = tuple(int(s) for s in args.sweep.split(","))
    if args.fc_cpu is not None:
        cfg.fc_cpu = args.fc_cpu
    return cfg


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = config(args)
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    log_dir = RESULTS / "logs"
    log_dir.mkdir(exist_ok=True)
    from taskwatch.settings import DEFAULT_CONCURRENCY

    venv = venv_runtime()
    runtimes: list[Runtime] = []
    tick_runtime = venv
    source_runtime: Runtime | None = None
    build: dict[str, Any] | None = None
    source_build: dict[str, Any] | None = None
    package_dir: Path | None = None
    python312 = None if cfg.quick else find_python312(args.python312)
    if not cfg.quick:
        out = Path(args.package_out).resolve()
        source_out = out.parent / f"{out.name}-sources"
        build = reuse_build(out) if args.reuse_build else None
        if build is None:
            progress("building the code package (infra/build_package.py)")
            build = build_package(out, python312)
        package_dir = out / "package"
        if python312:
            source_build = reuse_build(source_out) if args.reuse_build else None
            if source_build is None:
                progress("building the sources-only package for comparison (infra/build_package.py --no-bytecode)")
                source_build = build_package(source_out, python312, bytecode=False)
            version = python_version(python312)
            shipped = Runtime(
                "pkg312",
                f"code package, CPython {version}, as shipped "
                + (
                    "(bytecode: python/ sourceless .pyc, our code .py + __pycache__)"
                    if build["mode"].startswith("bytecode")
                    else f"(NO bytecode: {build['mode']})"
                ),
                python312,
                (str(package_dir), str(package_dir / "python")),
            )
            source_dir = source_out / "package"
            sources = Runtime(
                "pkg312src",
                f"code package without bytecode, CPython {version} (sources only, as shipped before: FC's /code "
                "is read-only, so compiled at each cold start)",
                python312,
                (str(source_dir), str(source_dir / "python")),
            )
            runtimes = [shipped, sources, venv]
            source_runtime = sources
            tick_runtime = shipped
        else:
            progress("no CPython 3.12 found (pyenv, TASKWATCH_PY312, --python312): using the dev venv only")
            runtimes = [venv]
    else:
        runtimes = [venv]

    report: dict[str, Any] = {
        "meta": {
            "command": "python bench/run.py" + (" --quick" if cfg.quick else ""),
            "quick": cfg.quick,
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
            "parent_python": platform.python_version(),
            "python312": python312,
            "build": build,
            "source_build": source_build,
            "default_concurrency": DEFAULT_CONCURRENCY,
            "load_average_at_start": os.getloadavg(),
            "config": cfg.__dict__,
        }
    }

    # 1. cold start
    report["cold_start"] = []
    for runtime in runtimes:
        runs = cfg.cold_runs if runtime.key != "venv" or cfg.quick else max(5, cfg.cold_runs // 2)
        report["cold_start"].append(cold_start(runtime, runs, progress))

    # 2-4. ticks
    ticks = []
    for size in cfg.sizes:
        progress(f"ticks: {size} targets, concurrency {DEFAULT_CONCURRENCY}")
        ticks.append(
            tick_run(
                tick_runtime, size, DEFAULT_CONCURRENCY, cfg.latency, cfg.idle_ticks, size == cfg.calls_size, log_dir
            )
        )
    sweep = []
    for value in cfg.sweep:
        reuse = next((t for t in ticks if t["targets"] == cfg.sweep_targets and t["concurrency"] == value), None)
        if reuse is None:
            progress(f"concurrency sweep: {cfg.sweep_targets} targets, concurrency {value}")
            reuse = tick_run(tick_runtime, cfg.sweep_targets, value, cfg.latency, cfg.idle_ticks, False, log_dir)
        sweep.append(reuse)
    progress("emulator without latency (its own capacity)")
    floor = tick_run(tick_runtime, cfg.sweep_targets, max(cfg.sweep), 0.0, cfg.idle_ticks, False, log_dir)
    report["ticks"] = {
        "runtime": tick_runtime.label,
        "latency_s": cfg.latency,
        "concurrency": DEFAULT_CONCURRENCY,
        "sizes": ticks,
        "sweep": sweep,
        "no_latency": floor,
        "recommended_concurrency": recommend(sweep),
    }
    # The same on FC's CPU share: the function process in a cgroup limited to s.yaml's 0.1 vCPU.
    report["fc_cpu"] = {"vcpu": cfg.fc_cpu, "available": False, "reason": "disabled (--fc-cpu 0)"}
    if cfg.fc_cpu > 0 and source_runtime is not None:
        limit = CpuLimit(cfg.fc_cpu)
        if limit.path is None:
            report["fc_cpu"]["reason"] = limit.problem
            progress(f"no {cfg.fc_cpu} vCPU run: {limit.problem}")
        else:
            try:
                report["fc_cpu"] = fc_cpu_section(
                    cfg, limit, runtimes[0], source_runtime, DEFAULT_CONCURRENCY, log_dir, progress
                )
            finally:
                limit.close()
    elif cfg.fc_cpu > 0:
        report["fc_cpu"]["reason"] = "needs the built package and CPython 3.12 (not in --quick)"

    fc_sweep = [t for t in report["fc_cpu"].get("ticks", []) if t["targets"] == cfg.fc_sizes[-1]]
    full_pick = report["ticks"]["recommended_concurrency"]
    fc_pick = recommend(fc_sweep) if fc_sweep else None
    pick = (fc_pick or full_pick).get("concurrency")
    report["concurrency"] = {
        "default": DEFAULT_CONCURRENCY,
        "best_full_cpu": full_pick,
        "best_fc_cpu": fc_pick,
        "basis": f"{cfg.fc_cpu} vCPU runs (what FC gives the function)" if fc_pick else "full-CPU runs",
        "recommended": pick,
        "change_needed": pick != DEFAULT_CONCURRENCY,
    }

    calls_run = next((t for t in ticks if "change" in t["ticks"]), ticks[-1])
    report["calls"] = calls_section(calls_run, ticks)
    report["memory"] = [
        {"targets": t["targets"], "concurrency": t["concurrency"], "peak_rss_mb": t["peak_rss_mb"]}
        for t in ticks + [t for t in sweep if t not in ticks]
    ]

    # 5. package
    if build is not None and package_dir is not None:
        report["package"] = package_summary(package_from_zip(Path(build["out"]) / "taskwatch-fc.zip", package_dir))
        report["package"]["mode"] = build["mode"]
        report["package"]["build_seconds"] = build["seconds"]
    else:
        report["package"] = package_summary(package_from_venv())

    # 6. cost
    report["cost"] = {
        "assumptions": {
            "ticks_per_month": TICKS_PER_MONTH,
            "memory_gb": FC_MEMORY_GB,
            "vcpu": FC_VCPU,
            "cu_per_invocation": CU_PER_INVOCATION,
            "cu_per_vcpu_s": CU_PER_VCPU_S,
            "cu_per_gb_s": CU_PER_GB_S,
            "usd_per_cu": USD_PER_CU,
        },
        "rows": [],
    }
    fc_ticks = {t["targets"]: t for t in report["fc_cpu"].get("ticks", []) if t["concurrency"] == DEFAULT_CONCURRENCY}
    for t in ticks:
        fc = fc_ticks.get(t["targets"])
        report["cost"]["rows"].append(
            cost_row(f"{t['targets']} targets, idle tick", t["idle_s"], t["idle_cpu_s"], fc["idle_s"] if fc else None)
        )
    cold = report["cold_start"][0]
    worst = ticks[-1]
    fc_cold = report["fc_cpu"].get("cold_start", [])
    fc_worst = fc_ticks.get(worst["targets"])
    measured_cold = (
        fc_cold[0]["variants"]["index_tick"]["process_median_s"] + fc_worst["idle_s"] if fc_cold and fc_worst else None
    )
    report["cost"]["rows"].append(
        cost_row(
            f"{worst['targets']} targets, every tick a cold start (as shipped: process start + imports + tick)",
            cold["variants"]["index_tick"]["process_median_s"] + worst["idle_s"],
            cold["variants"]["index_tick"]["process_median_s"] + worst["idle_cpu_s"],
            measured_cold,
        )
    )
    if source_build is not None:
        report["package"]["zipped_bytes_sources_only"] = (Path(source_build["out"]) / "taskwatch-fc.zip").stat().st_size
    progress("connections a warm instance opens (bench/warm_connections.py)")
    report["warm_connections"] = warm_connections(cfg.quick)
    report["goals"] = goals(report)
    report["meta"]["seconds"] = time.monotonic() - started
    report["meta"]["load_average_at_end"] = os.getloadavg()
    return report


def warm_connections(quick: bool) -> dict[str, Any]:
    """bench/warm_connections.py's figures, with its goal row and its Markdown section."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "warm.json"
        command = [sys.executable, str(WARM), "--json", str(out), *(["--quick"] if quick else [])]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
        if not out.exists():
            raise RuntimeError(f"bench/warm_connections.py failed:\n{done.stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


def recommend(sweep: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The smallest pool within 10% of the fastest idle tick: more threads buy nothing past that."""
    if not sweep:
        return {}
    best = min(t["idle_s"] for t in sweep)
    pick = min((t for t in sweep if t["idle_s"] <= best * 1.10), key=lambda t: t["concurrency"])
    return {
        "concurrency": pick["concurrency"],
        "rule": "smallest value whose idle tick is within 10% of the fastest",
        "idle_s": {str(t["concurrency"]): t["idle_s"] for t in sweep},
    }


def calls_section(run: dict[str, Any], all_runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ticks = run["ticks"]
    section: dict[str, Any] = {"targets": run["targets"], "first": ticks["first"]["calls"]}
    section["idle"] = ticks["idle1"]["calls"]
    if "change" in ticks:
        section["change"] = ticks["change"]["calls"]
        section["change_sent"] = ticks["change"]["sent"]
    section["idle_by_size"] = {
        str(r["targets"]): {
            "opensearch": r["ticks"]["idle1"]["calls"]["opensearch"],
            "oss_reads": r["ticks"]["idle1"]["calls"]["oss_reads"],
            "oss_writes": r["ticks"]["idle1"]["calls"]["oss_writes"],
            "dingtalk": r["ticks"]["idle1"]["calls"]["dingtalk"],
        }
        for r in all_runs
    }
    section["met"] = all(
        v["opensearch"] == int(k) and v["oss_reads"] <= 2 and v["oss_writes"] == 0 and v["dingtalk"] == 0
        for k, v in section["idle_by_size"].items()
    )
    return section


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cold = report["cold_start"][0]
    ratio = cold["ratios"]["index_tick/sdk"]
    out.append(
        {
            "goal": f"cold start: index + tick imports <= {COLD_RATIO_GOAL}x SDK baseline ({cold['key']})",
            "value": f"{ratio:.2f}x",
            "met": ratio <= COLD_RATIO_GOAL,
        }
    )
    off_path = ("taskwatch_emulator", "taskwatch.cli", "taskwatch.http_api", "taskwatch.serve", "taskwatch.policy")
    if "timer_path_modules" in cold:
        loaded = [m for m in cold["timer_path_modules"] if m.startswith(off_path)]
        out.append(
            {
                "goal": "timer cold path loads no emulator, CLI or HTTP router",
                "value": f"{len(cold['timer_path_modules'])} taskwatch modules; off-path ones: {loaded or 'none'}",
                "met": not loaded,
            }
        )
    healthz = cold.get("healthz", {})
    out.append(
        {
            "goal": "GET /healthz answered 200 without importing the SDKs",
            "value": f"HTTP {healthz.get('status')}, SDK modules loaded: {healthz.get('sdk_loaded') or 'none'}",
            "met": healthz.get("status") == 200 and not healthz.get("sdk_loaded"),
        }
    )
    for size, limit in TICK_GOALS_S.items():
        run = next((t for t in report["ticks"]["sizes"] if t["targets"] == size), None)
        if run is not None:
            out.append(
                {
                    "goal": f"idle tick, {size} targets, 50 ms/call <= {limit} s",
                    "value": f"{run['idle_s']:.3f} s",
                    "met": run["idle_s"] <= limit,
                }
            )
    calls = report["calls"]
    idle = calls["idle"]
    out.append(
        {
            "goal": "idle tick: 1 OpenSearch call/target, <= 2 OSS reads, 0 writes, 0 DingTalk",
            "value": f"{idle['opensearch']} OS / {calls['targets']} targets, {idle['oss_reads']} reads, "
            f"{idle['oss_writes']} writes, {idle['dingtalk']} DingTalk",
            "met": calls["met"],
        }
    )
    for mem in report["memory"]:
        if mem["targets"] in (100, 500) or report["meta"]["quick"]:
            out.append(
                {
                    "goal": f"peak RSS, {mem['targets']} targets (concurrency {mem['concurrency']}) "
                    f"<= {RSS_GOAL_MB:.0f} MB",
                    "value": f"{mem['peak_rss_mb']:.1f} MB",
                    "met": mem["peak_rss_mb"] <= RSS_GOAL_MB,
                }
            )
    package = report["package"]
    out.append(
        {
            "goal": f"code package zipped <= {ZIP_GOAL_MB:.0f} MB",
            "value": f"{package['zipped_mb']:.2f} MB" + ("" if package["exact"] else " (estimate)"),
            "met": package["met"],
        }
    )
    if "warm_connections" in report:
        out.append(report["warm_connections"]["goal"])
    return out


# === output =====================================================================================


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f} s"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_cold(cold: dict[str, Any]) -> list[str]:
    return [
        "",
        f"{cold['runtime']} — {cold['runs']} runs each, interleaved:",
        "",
        table(
            ["process", "median", "min-max", "imports (in-process)", "modules", "peak RSS"],
            (
                (
                    x["label"],
                    _ms(x["process_median_s"]),
                    f"{x['process_min_s'] * 1000:.0f}-{x['process_max_s'] * 1000:.0f} ms",
                    _ms(x["import_median_s"]),
                    x["modules"],
                    f"{x['rss_mb']:.0f} MB",
                )
                for x in cold["variants"].values()
            ),
        ),
        "",
        "Ratios of medians: "
        + ", ".join(f"{k} = {r:.2f}x" for k, r in cold["ratios"].items())
        + f" (of minimums: index_tick/sdk = {cold['ratios_of_minimums']['index_tick/sdk']:.2f}x)."
        + f" /healthz: HTTP {cold['healthz']['status']}, "
        + f"SDK modules loaded: {cold['healthz']['sdk_loaded'] or 'none'}.",
    ]


def render_fc(fc: dict[str, Any]) -> list[str]:
    if not fc.get("available"):
        return ["", f"### 2b. On FC's CPU share ({fc['vcpu']} vCPU): not measured — {fc.get('reason')}"]
    parts = [
        "",
        f"### 2b. On FC's CPU share: the function process in a cgroup limited to {fc['vcpu']} vCPU "
        "(s.yaml `cpu: 0.1`; the emulator is not limited)",
    ]
    for cold in fc["cold_start"]:
        parts += render_cold(cold)
    parts += [
        "",
        f"Ticks ({fc['tick_runtime']}; 50 ms per OpenSearch call):",
        "",
        table(
            ["targets", "TASKWATCH_CONCURRENCY", "idle tick", "first tick", "CPU per idle tick", "peak RSS"],
            (
                (
                    t["targets"],
                    t["concurrency"],
                    _s(t["idle_s"]),
                    _s(t["first_s"]),
                    _ms(t["idle_cpu_s"]),
                    f"{t['peak_rss_mb']:.1f} MB",
                )
                for t in fc["ticks"]
            ),
        ),
    ]
    return parts


def render(report: dict[str, Any]) -> str:
    meta = report["meta"]
    parts = [
        f"Command: `{meta['command']}` — {meta['date_utc']} UTC, {meta['machine']}, "
        f"parent (emulator) Python {meta['parent_python']}, run took {meta['seconds']:.0f} s; load average "
        f"{meta['load_average_at_start'][0]:.1f} at start, {meta['load_average_at_end'][0]:.1f} at end "
        "(other work on the machine shows up as noise).",
        "",
        "### Goals",
        table(
            ["goal", "measured", "met"],
            ((g["goal"], g["value"], "yes" if g["met"] else "**no**") for g in report["goals"]),
        ),
        "",
        "### 1. Cold start (fresh process, median wall time from spawn to exit)",
    ]
    for cold in report["cold_start"]:
        parts += render_cold(cold)
    ticks = report["ticks"]
    parts += [
        "",
        f"### 2. Tick time ({ticks['latency_s'] * 1000:.0f} ms on every OpenSearch call, "
        f"TASKWATCH_CONCURRENCY={ticks['concurrency']}; {ticks['runtime']})",
        "",
        table(
            [
                "targets",
                "idle tick (tick time)",
                "/ one call's latency",
                "speed-up vs sequential",
                "first tick",
                "CPU per idle tick",
                "peak RSS",
            ],
            (
                (
                    t["targets"],
                    _s(t["idle_s"]),
                    f"{t['idle_over_latency']:.1f}x" if t["idle_over_latency"] else "-",
                    f"{t['speedup_vs_sequential']:.1f}x" if t["speedup_vs_sequential"] else "-",
                    _s(t["first_s"]),
                    _ms(t["idle_cpu_s"]),
                    f"{t['peak_rss_mb']:.1f} MB",
                )
                for t in ticks["sizes"]
            ),
        ),
        "",
        f"Concurrency sweep at {ticks['sweep'][0]['targets'] if ticks['sweep'] else '-'} targets:",
        "",
        table(
            ["TASKWATCH_CONCURRENCY", "idle tick", "first tick", "CPU per idle tick", "peak RSS"],
            (
                (
                    t["concurrency"],
                    _s(t["idle_s"]),
                    _s(t["first_s"]),
                    _ms(t["idle_cpu_s"]),
                    f"{t['peak_rss_mb']:.1f} MB",
                )
                for t in ticks["sweep"]
            ),
        ),
        "",
        f"Fastest here (full CPU): {ticks['recommended_concurrency'].get('concurrency')} "
        f"({ticks['recommended_concurrency'].get('rule')}); see 2b for FC's 0.1 vCPU.",
    ]
    floor = ticks["no_latency"]
    per_request = floor["emulator_cpu_s_per_request"]
    parts += [
        f"Without latency ({floor['targets']} targets, concurrency {floor['concurrency']}): idle tick "
        f"{_s(floor['idle_s'])}, function CPU {_ms(floor['idle_cpu_s'])}; the emulator spends "
        f"{per_request * 1000:.2f} ms CPU per OpenSearch request (≈ {1 / per_request:.0f} req/s on one core)."
        if per_request
        else "",
    ]
    parts += render_fc(report["fc_cpu"])
    choice = report["concurrency"]
    parts += [
        "",
        f"**TASKWATCH_CONCURRENCY default**: now {choice['default']}; by the {choice['basis']} the best is "
        f"{choice['recommended']} → {'change it' if choice['change_needed'] else 'keep it'}.",
    ]
    calls = report["calls"]
    rows = []
    for name in ("first", "idle", "change"):
        if name in calls:
            c = calls[name]
            methods = ", ".join(f"{m} {n}" for m, n in sorted(c["oss_by_method"].items()))
            rows.append((name, c["opensearch"], c["oss_reads"], c["oss_writes"], f"{methods or '-'}", c["dingtalk"]))
    parts += [
        "",
        f"### 3. Calls per tick ({calls['targets']} targets: half pinned `@generation`, half `@latest`)",
        "",
        table(["tick", "OpenSearch", "OSS reads", "OSS writes", "OSS by method", "DingTalk"], rows),
        "",
        "Idle tick at every size: "
        + "; ".join(
            f"{k} targets → {v['opensearch']} OS, {v['oss_reads']} OSS reads, {v['oss_writes']} writes, "
            f"{v['dingtalk']} DingTalk"
            for k, v in calls["idle_by_size"].items()
        )
        + ".",
        "",
        "### 4. Memory (peak RSS of the function process: interpreter + imports + ticks)",
        "",
        table(
            ["targets", "concurrency", "peak RSS"],
            ((m["targets"], m["concurrency"], f"{m['peak_rss_mb']:.1f} MB") for m in report["memory"]),
        ),
    ]
    package = report["package"]
    parts += [
        "",
        f"### 5. Code package ({package['source']})",
        "",
        f"Zipped {package['zipped_bytes'] / 1e6:.2f} MB ({package['zipped_bytes'] / 2**20:.2f} MiB), "
        f"unzipped {package['unzipped_bytes'] / 1e6:.2f} MB, {package['files']} files. Five largest dependencies:",
        "",
        table(
            ["distribution", "unzipped", "zipped", "files"],
            (
                (d["name"], f"{d['bytes'] / 1e6:.2f} MB", f"{d['zipped_bytes'] / 1e6:.2f} MB", d["files"])
                for d in package["largest"]
            ),
        ),
        "",
        f"Our own code: {package['distributions'].get('taskwatch (our code)', {}).get('zipped_bytes', 0) / 1e3:.0f} kB "
        "zipped."
        + (
            f" Built ({package['mode']})"
            + (f" in {package['build_seconds']:.1f} s" if package.get("build_seconds") else "")
            + "; the sources-only package (`--no-bytecode`) is "
            f"{package['zipped_bytes_sources_only'] / 1e6:.2f} MB zipped."
            if package.get("zipped_bytes_sources_only")
            else ""
        ),
    ]
    cost = report["cost"]
    a = cost["assumptions"]
    parts += [
        "",
        f"### 6. Cost a month (one tick a minute = {a['ticks_per_month']:,} invocations; 128 MB, 0.1 vCPU)",
        "",
        table(
            [
                "case",
                "tick here",
                "CPU/tick here",
                "tick at 0.1 vCPU: measured / projected",
                "GB-s",
                "vCPU-s",
                "CU",
                "USD (list)",
            ],
            (
                (
                    r["label"],
                    _s(r["tick_s_here"]),
                    _ms(r["cpu_s_per_tick"]),
                    f"{_s(r['tick_s_measured_0_1_vcpu'])} / {_s(r['tick_s_projected_0_1_vcpu'])}",
                    f"{r['gb_s_per_month']:,.0f}",
                    f"{r['vcpu_s_per_month']:,.0f}",
                    f"{r['cu_per_month']:,.0f}",
                    f"{r['usd_per_month']:.2f}",
                )
                for r in cost["rows"]
            ),
        ),
        "",
        "Billed duration = the measured 0.1 vCPU tick where there is one, else the projection "
        "max(tick here, CPU here / 0.1). "
        f"CU = invocations x {a['cu_per_invocation']} + vCPU-s x {a['cu_per_vcpu_s']} + GB-s x {a['cu_per_gb_s']}; "
        f"USD {a['usd_per_cu']}/CU (tier 1). Free tier: see bench/README.md (FC 3.0 has a trial CU quota for "
        "new accounts, no permanent monthly free tier).",
    ]
    if "warm_connections" in report:
        parts += ["", report["warm_connections"]["markdown"]]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke version: small sizes, dev venv, no build")
    parser.add_argument("--runs", type=int, default=0, help="cold-start runs per variant (default 11, quick 3)")
    parser.add_argument("--sizes", default="", help="comma list of target counts (default 1,10,100,500)")
    parser.add_argument("--sweep", default="", help="comma list of TASKWATCH_CONCURRENCY values (default 8,16,32,64)")
    parser.add_argument("--json", default=str(RESULTS / "latest.json"), help="where to write the JSON")
    parser.add_argument("--package-out", default=str(RESULTS / "build"), help="where to build the code package")
    parser.add_argument("--reuse-build", action="store_true", help="reuse an existing build in --package-out")
    parser.add_argument("--python312", default=None, help="CPython 3.12 to run the package with (default: pyenv's)")
    parser.add_argument(
        "--fc-cpu",
        type=float,
        default=None,
        help=f"also run the function in a cgroup limited to this many vCPUs (default {FC_VCPU}, s.yaml's; 0 = off)",
    )
    parser.add_argument("--no-snapshot", action="store_true", help="do not rewrite bench/RESULTS.md (full run)")
    parser.add_argument("--render", metavar="JSON", default=None, help="only print the table of a saved JSON")
    args = parser.parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.render).read_text(encoding="utf-8"))))
        return 0
    report = run(args)
    text = render(report)
    print(text)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"JSON: {out}", file=sys.stderr)
    if not report["meta"]["quick"] and not args.no_snapshot:
        SNAPSHOT.write_text(
            "# Benchmark results (snapshot of a full run)\n\n"
            "Made by `.venv/bin/python bench/run.py`; what each row means: bench/README.md.\n\n" + text,
            encoding="utf-8",
        )
        print(f"snapshot: {SNAPSHOT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
