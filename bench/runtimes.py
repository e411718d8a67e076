"""Where the function runs: a Python with only its code directories on sys.path, and the builds of them."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.common import BUILD_SCRIPT, HANDLER, PIP_CACHE
from infra.build_package import MANIFEST_NAME, RUNTIMES, BuildError, Interpreter, find_python


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


def find_python312(explicit: str | None) -> Interpreter | None:
    """CPython 3.12 as the package build finds it (``explicit``, else infra/build_package.py's own search).

    The build's notes (an interpreter it skips) go to stderr, with the progress lines: stdout is the report.
    """
    with contextlib.redirect_stdout(sys.stderr):
        try:
            return find_python(explicit, RUNTIMES["python3.12"])
        except BuildError as err:
            raise SystemExit(f"bench: {err}") from None


def venv_runtime() -> Runtime:
    site = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    return Runtime(
        "venv",
        f"dev venv, CPython {platform.python_version()} (handler/ + site-packages, .pyc cached)",
        sys.executable,
        (str(HANDLER), site),
    )


def package_runtimes(build: dict[str, Any], source_build: dict[str, Any], python312: Interpreter) -> list[Runtime]:
    """The package with bytecode (what s.yaml deploys) and the sources-only one, both on CPython 3.12."""
    package_dir = Path(build["out"]) / "package"
    source_dir = Path(source_build["out"]) / "package"
    shipped = Runtime(
        "pkg312",
        f"code package, CPython {python312.version}, as shipped "
        + (
            "(bytecode: python/ sourceless .pyc, our code .py + __pycache__)"
            if build["mode"].startswith("bytecode")
            else f"(NO bytecode: {build['mode']})"
        ),
        python312.path,
        (str(package_dir), str(package_dir / "python")),
    )
    sources = Runtime(
        "pkg312src",
        f"code package without bytecode, CPython {python312.version} (sources only: FC's /code is read-only, "
        "so every cold start compiles them)",
        python312.path,
        (str(source_dir), str(source_dir / "python")),
    )
    return [shipped, sources]


def build_package(out: Path, python312: str | None, bytecode: bool = True) -> dict[str, Any]:
    """infra/build_package.py into ``out`` (the same command s.yaml's pre-deploy runs), compiling the
    bytecode with ``python312``; ``bytecode=False`` builds the sources-only package (``--no-bytecode``,
    what the build makes on a machine without CPython 3.12), to show what the bytecode saves."""
    started = time.monotonic()
    command = [sys.executable, str(BUILD_SCRIPT), "--out", str(out), "--pip-cache", str(PIP_CACHE)]
    command += ["--python", python312] if python312 and bytecode else []
    command += [] if bytecode else ["--no-bytecode"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"bench: package build failed:\n{result.stdout}\n{result.stderr}")
    manifest = (out / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    return {
        "out": str(out),
        "seconds": time.monotonic() - started,
        "mode": manifest[0].removeprefix("# ") if manifest and manifest[0].startswith("#") else "unknown",
        "log": result.stdout.strip().splitlines(),
    }


def reuse_build(out: Path) -> dict[str, Any] | None:
    """``--reuse-build``: a build already in ``out``, if there is one."""
    manifest = out / MANIFEST_NAME
    if not (out / "package" / "index.py").is_file() or not manifest.is_file():
        return None
    first = manifest.read_text(encoding="utf-8").split("\n", 1)[0]
    mode = first.removeprefix("# ") if first.startswith("#") else "unknown (no mode on the manifest's first line)"
    return {"out": str(out), "seconds": None, "mode": mode, "log": ["reused"]}
