#!/usr/bin/env python3
"""Build the Function Compute code package of taskwatch.

    python3 infra/build_package.py [--runtime python3.10|python3.12] [--out build] [--pip-cache DIR]
                                   [--python PATH] [--no-bytecode]

Result (under --out, default ``build/`` at the repository root):

- ``package/``: what FC unpacks at ``/code``: the contents of ``handler/`` (``index.py``,
  ``taskwatch/``) without caches or tests, and ``python/`` with the pinned dependencies of
  ``infra/requirements-fc.txt`` installed for Linux x86_64 and the runtime's CPython (binary wheels
  only). s.yaml sets ``PYTHONPATH=/code/python``.
- ``taskwatch-fc.zip``: that folder zipped reproducibly (sorted entries, fixed timestamps and
  permissions), the file s.yaml deploys.
- ``taskwatch-fc.manifest``: a first ``#`` line naming the bytecode mode and the runtime, then one
  line per file, ``sha256  size  path``, sorted.

Runtime. ``--runtime`` is FC's runtime name, ``python3.12`` (the default) or ``python3.10``; s.yaml
passes the one it deploys. The pins may carry PEP 508 markers (``; python_version < "3.11"``):
the build evaluates them for the runtime's Python, not for the one running the build, and installs
exactly the pins that apply (pip ``--no-deps``), then checks every installed distribution's
``Requires-Python`` and ``Requires-Dist`` for the runtime. So a build on Python 3.10 gives the same
python3.12 package as a build on 3.12, and a pin the runtime needs but the file lacks stops the build.

Bytecode. FC's ``/code`` is read-only, so a package without ``.pyc`` is compiled again at every
cold start (the SDKs: ~0.9 s of CPU, ~11 s at s.yaml's 0.1 vCPU). The build therefore compiles the
package with a CPython of the runtime's version (``--python PATH``, else ``$TASKWATCH_PY3XY``, else a
working ``python3.X`` on PATH, else the newest ``~/.pyenv/versions/3.X.*/bin/python``; ``find_python``,
which the bench and the deploy tests use too):

- ``python/`` (the dependencies) becomes *sourceless*: ``compileall -b`` writes ``x.pyc`` beside
  ``x.py`` (the legacy layout, which CPython imports without a source), then every ``.py`` with a
  ``.pyc`` beside it is deleted (``KEEP_SOURCES`` lists any a dependency reads as data: none today)
  and the ``RECORD`` files name the ``.pyc`` instead. This keeps the zip under 12 MB.
- our code (``index.py``, ``taskwatch/``) keeps its ``.py`` (readable tracebacks) and gets
  ``__pycache__/*.cpython-3X.pyc``.

All ``.pyc`` are ``--invalidation-mode unchecked-hash``: no source mtime inside (the zip's 1980
timestamps would make timestamp-checked ones stale) and never re-validated at import. They are
compiled in one process (no ``-j``: marshal's reference flags depend on what a worker compiled
before, so a parallel run is not byte-reproducible) with ``PYTHONHASHSEED=0`` (set constants), and
name ``/code/...`` as their file (what FC's tracebacks show), not the build folder. The build then
imports the SDKs and every ``taskwatch`` module from the package with that interpreter (``-I``,
when the build machine is Linux x86_64, the wheels' platform). Without a CPython of the runtime's
version the package is built from sources only, with a warning; ``--no-bytecode`` asks for that.
The mode is in the log and on the manifest's first line.

Same inputs (including the CPython release that compiles) give the same file list and contents,
and the same zip bytes with the same zlib. Only the standard library and pip are needed, on any OS
(the wheels are chosen for the target platform, not the build machine), plus the runtime's CPython
for the bytecode. ``s deploy`` runs this as its pre-deploy action.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HANDLER_DIR = REPO / "handler"
REQUIREMENTS = REPO / "infra" / "requirements-fc.txt"
PLATFORM = "manylinux2014_x86_64"
DEPS_DIR = "python"
# pyproject's dependencies (a name whose marker does not hold on a runtime has no pin for it)
DIRECT = ("aliyun-python-sdk-core", "alibabacloud-oss-v2", "requests", "tomli", "tzdata")
ZIP_NAME = "taskwatch-fc.zip"
MANIFEST_NAME = "taskwatch-fc.manifest"
# 1980-01-01 00:00:00, the earliest time a zip entry can hold; SOURCE_DATE_EPOCH overrides it.
DEFAULT_EPOCH = 315532800
FC_CODE_LIMIT = 500 * 1024 * 1024  # FC 3.0: a code package uploaded through OSS may be 500 MB

EXCLUDED_DIRS = {"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"}
DEPENDENCY_TESTS = ("Crypto/SelfTest",)  # run only by `python -m Crypto.SelfTest`
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info")
EXCLUDED_FILES = {".DS_Store"}
FORBIDDEN_ANYWHERE = {"taskwatch_emulator"}
FORBIDDEN_IN_CODE = {"tests", "test", "emulator"}  # our code; a dependency may ship its own tests


@dataclass(frozen=True)
class Runtime:
    """An FC Python runtime the package can be built for."""

    name: str  # FC's runtime name, as in s.yaml's `runtime`
    version: str  # its CPython minor version, e.g. "3.12"
    magic: int  # importlib.util.MAGIC_NUMBER of that version (the same for every micro release)

    @property
    def magic_bytes(self) -> bytes:
        return self.magic.to_bytes(2, "little") + b"\r\n"

    @property
    def override_env(self) -> str:
        """The variable naming the CPython to use for this runtime, e.g. TASKWATCH_PY312."""
        return "TASKWATCH_PY" + self.version.replace(".", "")

    @property
    def pyc_tag(self) -> str:
        return "cpython-" + self.version.replace(".", "")

    def environment(self) -> dict[str, str]:
        """PEP 508 marker values of the runtime (Linux x86_64 CPython), not of the build machine.

        FC does not name its micro release; markers split at minor versions in practice, and a
        fixed ``X.Y.0`` keeps the resolution independent of whichever interpreter builds.
        """
        full = f"{self.version}.0"
        return {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": "posix",
            "platform_machine": "x86_64",
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": full,
            "python_version": self.version,
            "sys_platform": "linux",
            "extra": "",
        }


# python3.12 is in public preview and not offered in every region; python3.10 is everywhere.
RUNTIMES = {r.name: r for r in (Runtime("python3.10", "3.10", 3439), Runtime("python3.12", "3.12", 3531))}
DEFAULT_RUNTIME = "python3.12"


class BuildError(RuntimeError):
    pass


def runtime_named(name: str) -> Runtime:
    runtime = RUNTIMES.get(name.strip())
    if runtime is None:
        raise BuildError(f"runtime {name!r} is not supported; use one of {', '.join(RUNTIMES)}")
    return runtime


# --- bytecode ---------------------------------------------------------------------------------
FC_CODE_ROOT = "/code"  # where FC unpacks the package: the file name the .pyc carry for tracebacks
# The flags word of a .pyc for --invalidation-mode unchecked-hash (PEP 552: hash-based, not checked).
UNCHECKED_HASH_FLAGS = (1).to_bytes(4, "little")
# Dependency .py files read as data (not imported), kept beside their .pyc, as paths under python/.
# None today: of the pinned distributions only cffi's setuptools_ext and pycparser's _ast_gen name
# .py files, at build time of other projects, never when taskwatch runs.
KEEP_SOURCES: frozenset[str] = frozenset()
# Imported from the finished package to prove the sourceless tree works: what taskwatch imports
# lazily (opensearch.py, stores/oss.py, notifiers/dingtalk.py), on top of index, every taskwatch
# module and every top-level package of python/.
VERIFY_IMPORTS = (
    "aliyunsdkcore.client",
    "aliyunsdkcore.request",
    "aliyunsdkcore.acs_exception.exceptions",
    "aliyunsdkcore.auth.credentials",
    "aliyunsdkcore.auth.signers.access_key_signer",
    "aliyunsdkcore.auth.signers.sts_token_signer",
    "alibabacloud_oss_v2",
    "requests",
)


def no_bytecode_hint(runtime: Runtime) -> str:
    v = runtime.version
    return (
        "every cold start on FC will compile the SDKs again (~0.9 s of CPU, ~11 s at 0.1 vCPU, instead "
        f"of ~0.3 s / ~4 s). To fix: install CPython {v} (e.g. `pyenv install {v}`, or your OS's "
        f"python{v} package) and put python{v} on PATH, or pass --python /path/to/python{v} "
        f"(or set {runtime.override_env})"
    )


def log(message: str) -> None:
    print(f"build_package: {message}", flush=True)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path = REQUIREMENTS, runtime: Runtime | None = None) -> dict[str, str]:
    """The ``name==version [; marker]`` lines of the requirements file that apply to ``runtime``.

    Markers are evaluated here, for the runtime's Python (default: the default runtime): pip would
    evaluate them for the Python that runs the build, which need not be the one FC runs.
    """
    target = runtime or RUNTIMES[DEFAULT_RUNTIME]
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, _, marker = line.partition(";")
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", requirement.strip())
        if not match:
            raise BuildError(f"{path.name}:{number}: {line!r} is not pinned as name==version")
        if marker.strip() and not marker_holds(marker.strip(), target, f"{path.name}:{number}"):
            continue
        name = normalize(match.group(1))
        if name in pins:
            raise BuildError(f"{path.name}:{number}: {name} is pinned twice for {target.name}")
        pins[name] = match.group(2)
    return pins


def marker_holds(marker: str, runtime: Runtime, where: str) -> bool:
    """A PEP 508 marker evaluated for the runtime, with pip's own marker implementation."""
    from pip._vendor.packaging.markers import InvalidMarker, Marker

    try:
        return bool(Marker(marker).evaluate(runtime.environment()))
    except InvalidMarker as exc:
        raise BuildError(f"{where}: bad marker {marker!r}: {exc}") from None


def check_requirements(deps: Path, runtime: Runtime) -> None:
    """Every installed distribution's Requires-Python and Requires-Dist hold on the runtime.

    pip installs the pins without their dependencies (it would evaluate the dependencies' markers
    for the build machine's Python, e.g. pull typing-extensions into a 3.12 package built on 3.10,
    or miss it in a 3.10 package built on 3.12): this is where a pin the runtime needs is found missing.
    """
    from email.parser import HeaderParser

    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    from pip._vendor.packaging.specifiers import InvalidSpecifier, SpecifierSet

    environment = runtime.environment()
    installed = installed_distributions(deps)
    problems: list[str] = []
    for info in sorted(deps.glob("*.dist-info")):
        metadata = HeaderParser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        name = str(metadata.get("Name") or info.name)
        try:
            requires_python = str(metadata.get("Requires-Python") or "").strip()
            if requires_python and not SpecifierSet(requires_python).contains(
                environment["python_full_version"], prereleases=True
            ):
                problems.append(f"{name} requires Python {requires_python}")
            for line in metadata.get_all("Requires-Dist") or []:
                requirement = Requirement(str(line))
                if requirement.marker is not None and not requirement.marker.evaluate(environment):
                    continue
                have = installed.get(normalize(requirement.name))
                if have is None or not requirement.specifier.contains(have, prereleases=True):
                    problems.append(f"{name} needs {str(line).strip()!r}, pinned: {have or 'nothing'}")
        except (InvalidRequirement, InvalidSpecifier) as exc:
            problems.append(f"{name}: unreadable metadata ({exc})")
    if problems:
        raise BuildError(f"{REQUIREMENTS.name} does not fit {runtime.name}: " + "; ".join(problems))


def _excluded(path: Path) -> bool:
    return (
        path.name in EXCLUDED_FILES
        or path.name.endswith(EXCLUDED_SUFFIXES)
        or (path.is_dir() and path.name in EXCLUDED_DIRS)
        or path.name.startswith(".")
    )


def copy_code(source: Path, target: Path) -> None:
    """Copy handler/ into the package, leaving out caches, tests and hidden files."""
    if not (source / "index.py").is_file():
        raise BuildError(f"{source / 'index.py'} is missing: the handler index.handler lives there")
    copy_code_tree(source, target)


def copy_code_tree(source: Path, target: Path) -> None:
    for entry in sorted(source.iterdir()):
        if _excluded(entry):
            continue
        if entry.is_dir():
            (target / entry.name).mkdir()
            copy_code_tree(entry, target / entry.name)
        elif entry.is_file():
            shutil.copyfile(entry, target / entry.name)


def pip_command(
    target: Path,
    requirements: Path,
    pip_cache: Path | None,
    dry_run_report: Path | None,
    runtime: Runtime | None = None,
    python: str = sys.executable,
) -> list[str]:
    """pip for the runtime's platform; an install takes exactly the pins (``--no-deps``), a dry run resolves."""
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",  # no .pyc: they would be for the build machine's choice, and are caches
        "--no-warn-script-location",
        "--only-binary=:all:",
        "--platform",
        PLATFORM,
        "--python-version",
        (runtime or RUNTIMES[DEFAULT_RUNTIME]).version,
        "--implementation",
        "cp",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    if pip_cache is not None:
        command += ["--cache-dir", str(pip_cache)]
    if dry_run_report is not None:
        command += ["--dry-run", "--ignore-installed", "--report", str(dry_run_report)]
    else:
        # The pins are complete (check_pins, check_requirements): pip must neither add a dependency
        # by evaluating its marker for the build machine's Python nor refuse a pin whose
        # Requires-Python fits the runtime but not that Python.
        command += ["--no-deps", "--ignore-requires-python"]
    return command


def _pip_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PIP_TARGET", "PIP_PREFIX", "PIP_USER", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(name, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def install_dependencies(target: Path, pip_cache: Path | None, pins: dict[str, str], runtime: Runtime) -> None:
    """Install exactly ``pins`` (the requirements that apply to the runtime) into ``target``."""
    target.mkdir()
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / f"requirements-{runtime.name}.txt"
        requirements.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()), encoding="utf-8")
        command = pip_command(target, requirements, pip_cache, None, runtime)
        result = subprocess.run(command, env=_pip_env(), capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise BuildError(f"pip install failed (exit {result.returncode}): {' '.join(command)}")
    # Console scripts carry the build machine's interpreter path in their shebang: not wanted.
    shutil.rmtree(target / "bin", ignore_errors=True)
    # A library's own test suite is never imported by the function (pycryptodome's is 0.8 MB zipped).
    dropped = [path for name in DEPENDENCY_TESTS for path in target.glob(name)]
    for path in dropped:
        shutil.rmtree(path)
    gone = tuple(f"{path.relative_to(target).as_posix()}/" for path in dropped)
    for record in sorted(target.glob("*.dist-info/RECORD")):
        lines = record.read_text(encoding="utf-8").splitlines(keepends=True)
        # the scripts just removed, and the test suites
        kept = [line for line in lines if not line.startswith("../") and not line.startswith(gone or ("\0",))]
        if kept != lines:
            record.write_text("".join(kept), encoding="utf-8")
    for cache in sorted(target.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def installed_distributions(deps: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for info in sorted(deps.glob("*.dist-info")):
        name, _, version = info.name[: -len(".dist-info")].rpartition("-")
        found[normalize(name)] = version
    return found


def check_pins(deps: Path, pins: dict[str, str]) -> None:
    installed = installed_distributions(deps)
    if installed != pins:
        extra = {k: v for k, v in installed.items() if pins.get(k) != v}
        missing = {k: v for k, v in pins.items() if installed.get(k) != v}
        raise BuildError(
            f"installed distributions differ from {REQUIREMENTS.name}: "
            f"installed but not pinned {extra or '{}'}; pinned but not installed {missing or '{}'}"
        )


# === bytecode ===================================================================================


@dataclass(frozen=True)
class Interpreter:
    """A CPython of the runtime's version, which compiles the package's bytecode."""

    path: str
    version: str  # e.g. 3.12.1
    runs_wheels: bool  # Linux x86_64: the package's binary wheels load here, so imports can be tried


# Two lines: what the interpreter is, then its own executable (a launcher such as a pyenv shim
# re-executes the real one, whose path is what the build and the bench then run, without the detour).
PROBE = (
    "import importlib.util, platform, sys; "
    "print(sys.implementation.name, '.'.join(map(str, sys.version_info[:3])), "
    "importlib.util.MAGIC_NUMBER.hex(), platform.system(), platform.machine()); "
    "print(sys.executable)"
)


def probe_python(path: str, runtime: Runtime) -> tuple[Interpreter | None, str]:
    """The interpreter at ``path`` if it is a working CPython of the runtime's version, else None and why not."""
    try:
        result = subprocess.run(  # noqa: S603
            [path, "-I", "-S", "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{path}: cannot run it ({exc})"
    lines = result.stdout.splitlines()
    fields = lines[0].split() if lines else []
    if result.returncode != 0 or len(fields) != 5 or len(lines) != 2:
        why = (result.stderr.strip().splitlines() or [""])[0][:200]
        return None, f"{path}: does not run (exit {result.returncode}: {why})"
    name, version, magic, system, machine = fields
    wanted = f"CPython {runtime.version}"
    if (
        name != "cpython"
        or not version.startswith(f"{runtime.version}.")
        or bytes.fromhex(magic) != runtime.magic_bytes
    ):
        return None, f"{path}: is {name} {version} (magic {magic}), not {wanted}"
    executable = lines[1].strip() or path
    return Interpreter(executable, version, system == "Linux" and machine in ("x86_64", "AMD64")), ""


def _pyenv(runtime: Runtime) -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = []
    for candidate in root.glob(f"versions/{runtime.version}.*/bin/python"):
        micro = re.fullmatch(re.escape(runtime.version) + r"\.(\d+)", candidate.parent.parent.name)
        if micro:  # a release, not 3.12-dev or 3.12.0rc1
            found.append((int(micro.group(1)), str(candidate)))
    return [path for _, path in sorted(found, reverse=True)]


def find_python(explicit: str | None, runtime: Runtime) -> Interpreter | None:
    """The CPython of the runtime's version that the build compiles with and the bench and tests run.

    In this order: ``explicit`` (``--python PATH``), else ``$TASKWATCH_PY3XY`` (e.g. TASKWATCH_PY312),
    both of which must work; else the first working ``pythonX.Y`` on PATH, else the newest pyenv
    X.Y release. None if there is none. The path found is the interpreter's own executable.
    """
    for given, name in ((explicit, "--python"), (os.environ.get(runtime.override_env), runtime.override_env)):
        if given:
            found, problem = probe_python(given, runtime)
            if found is None:
                raise BuildError(f"{name} {problem} (the runtime is {runtime.name})")
            return found
    on_path = shutil.which(f"python{runtime.version}")
    for candidate in ([on_path] if on_path else []) + _pyenv(runtime):
        found, problem = probe_python(candidate, runtime)
        if found is not None:
            return found
        log(f"skipping {problem}")  # e.g. a pyenv shim with no such version selected
    return None


def _compile_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"  # the order of set and frozenset constants in the bytecode
    return env


def _compileall(python: Interpreter, source_root: Path, fc_root: str, targets: list[Path], legacy: bool) -> None:
    """compileall, serially; ``legacy``: ``x.pyc`` beside ``x.py`` (for sourceless), else ``__pycache__``.

    A dependency file that does not compile keeps its .py (reported here, listed by make_sourceless);
    in our code, or for any other failure, the build stops.
    """
    command = [python.path, "-S", "-s", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]
    command += ["-b"] if legacy else []
    command += ["-s", str(source_root.resolve()), "-p", fc_root, *(str(t.resolve()) for t in targets)]
    result = subprocess.run(command, env=_compile_env(), capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode == 0:
        return
    output = (result.stdout + result.stderr).strip()
    if not legacy or "*** Error compiling" not in output:
        raise BuildError(f"compileall failed (exit {result.returncode}): {' '.join(command)}\n{output[-3000:]}")
    log(f"warning: some dependency files do not compile with CPython {python.version} (kept as .py):\n{output}")


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_sourceless(deps: Path, keep: frozenset[str] = KEEP_SOURCES) -> tuple[int, list[str]]:
    """Delete the dependency .py files compiled beside them; returns (deleted, kept .py paths)."""
    removed: dict[str, str] = {}  # "pkg/mod.py" -> its RECORD line for "pkg/mod.pyc"
    kept: list[str] = []
    for source in sorted(deps.rglob("*.py")):
        relative = source.relative_to(deps).as_posix()
        compiled = source.with_suffix(".pyc")
        if relative in keep or not compiled.is_file():
            kept.append(relative)
            continue
        data = compiled.read_bytes()
        removed[relative] = f"{relative}c,{_record_hash(data)},{len(data)}\n"
        source.unlink()
    for record in sorted(deps.glob("*.dist-info/RECORD")):
        lines = record.read_text(encoding="utf-8").splitlines(keepends=True)
        rewritten = [removed.get(line.split(",", 1)[0], line) for line in lines]
        if rewritten != lines:
            record.write_text("".join(rewritten), encoding="utf-8")
    return len(removed), kept


VERIFY = r"""
import importlib, json, os, pkgutil, sys
package, names = sys.argv[1], sys.argv[2:]
deps = os.path.join(package, "python")
sys.path[:0] = [package, deps]
import index, taskwatch
names += [m.name for m in pkgutil.walk_packages(taskwatch.__path__, "taskwatch.")]
names += [m.name for m in pkgutil.iter_modules([deps])]
for name in names:
    importlib.import_module(name)
files = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
from_deps = [os.path.relpath(f, deps) for f in files if f.startswith(deps + os.sep)]
print(json.dumps({"names": len(names), "deps": len(from_deps), "sources": [f for f in from_deps if f.endswith(".py")]}))
"""


def verify_imports(package: Path, python: Interpreter, kept: list[str]) -> str:
    """Import the SDKs, index and every taskwatch module from the package, isolated; return a summary."""
    if not python.runs_wheels:
        return "imports not tried (the build machine is not Linux x86_64, the wheels' platform)"
    command = [python.path, "-I", "-S", "-B", "-c", VERIFY, str(package.resolve()), *VERIFY_IMPORTS]
    result = subprocess.run(  # noqa: S603
        command, cwd=package, env={"PATH": os.defpath}, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise BuildError(f"importing from the package failed:\n{result.stderr.strip()[-2000:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    unexpected = sorted(set(found["sources"]) - set(kept))
    if unexpected:
        raise BuildError(f"modules of python/ were imported from source although compiled: {unexpected[:10]}")
    return f"imports verified ({found['names']} modules and packages imported, {found['deps']} loaded from python/)"


def iter_files(root: Path) -> Iterator[Path]:
    """Every file under root, sorted by its relative POSIX path (the zip's and manifest's order)."""
    files = [path for path in root.rglob("*") if path.is_file() or path.is_symlink()]
    yield from sorted(files, key=lambda path: path.relative_to(root).as_posix())


def _pyc_header_ok(path: Path, runtime: Runtime) -> bool:
    with path.open("rb") as handle:
        return handle.read(8) == runtime.magic_bytes + UNCHECKED_HASH_FLAGS


def check_package(
    root: Path,
    bytecode: bool = False,
    kept_sources: Collection[str] = KEEP_SOURCES,
    runtime: Runtime | None = None,
) -> None:
    """The package holds no tests, no emulator, no symlinks, and only the bytecode it should.

    Without bytecode: no ``.pyc``, no ``__pycache__``. With it: ``python/`` holds legacy-layout
    ``.pyc`` (no ``__pycache__``) and no ``.py`` but ``kept_sources``; our code holds each ``.py``
    and its ``__pycache__/<name>.cpython-3XY.pyc``, nothing else there; every ``.pyc`` is the
    runtime's CPython's (default: the default runtime), unchecked-hash. ``.pyo`` never.
    """
    target = runtime or RUNTIMES[DEFAULT_RUNTIME]
    tag = target.pyc_tag
    problems: list[str] = []
    for path in iter_files(root):
        relative = path.relative_to(root)
        parts = relative.parts
        in_deps = parts[0] == DEPS_DIR
        cached = "__pycache__" in parts
        if path.is_symlink():
            problems.append(f"symlink {relative}")
            continue
        if FORBIDDEN_ANYWHERE.intersection(parts) or (not in_deps and FORBIDDEN_IN_CODE.intersection(parts)):
            problems.append(f"forbidden {relative}")
        if path.suffix == ".pyo" or (path.suffix == ".pyc" and not bytecode):
            problems.append(f"bytecode {relative}")
        elif path.suffix == ".pyc":
            if in_deps:
                stray = cached or ".cpython-" in path.name
            else:
                stem = path.name.removesuffix(f".{tag}.pyc")
                stray = not (
                    parts[-2] == "__pycache__"
                    and path.name == f"{stem}.{tag}.pyc"
                    and (path.parent.parent / f"{stem}.py").is_file()
                )
            if stray:
                problems.append(f"stray bytecode {relative}")
            elif not _pyc_header_ok(path, target):
                problems.append(f"not CPython {target.version} unchecked-hash bytecode {relative}")
        elif cached:
            problems.append(f"cache {relative}")
        elif path.suffix == ".py" and bytecode:
            if in_deps and Path(*parts[1:]).as_posix() not in kept_sources:
                problems.append(f"source left in the sourceless python/ {relative}")
            elif not in_deps and not (path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc").is_file():
                problems.append(f"not compiled {relative}")
    if not (root / "index.py").is_file() or not (root / "taskwatch" / "__init__.py").is_file():
        problems.append("index.py or taskwatch/__init__.py missing")
    if problems:
        raise BuildError("package check failed: " + "; ".join(problems[:20]))


def _epoch() -> int:
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return max(int(raw), DEFAULT_EPOCH) if raw.isdigit() else DEFAULT_EPOCH


def write_zip(root: Path, destination: Path) -> int:
    """Zip ``root`` reproducibly; returns the number of files."""
    stamp = time.gmtime(_epoch())[:6]
    count = 0
    partial = destination.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in iter_files(root):
            name = path.relative_to(root).as_posix()
            info = zipfile.ZipInfo(name, date_time=stamp)
            executable = path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.create_system = 3  # unix, whatever the build machine
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
            count += 1
    partial.replace(destination)
    return count


def write_manifest(root: Path, destination: Path, mode: str) -> list[str]:
    """``# <mode>``, then ``sha256  size  path`` per file; returns the file lines."""
    lines = []
    for path in iter_files(root):
        data = path.read_bytes()
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {len(data)}  {path.relative_to(root).as_posix()}")
    destination.write_text("\n".join([f"# {mode}", *lines]) + "\n", encoding="utf-8")
    return lines


def human(size: int) -> str:
    return f"{size / 1024 / 1024:.2f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KiB"


def resolve(pip_cache: Path | None, runtime: Runtime, explicit: str | None = None) -> int:
    """Show what pip resolves for the runtime's platform and Python (to refresh the pins).

    pip evaluates the dependencies' markers for the Python that runs it, so the resolution runs
    with a CPython of the runtime's version when there is one (else this one, with a warning).
    """
    found = find_python(explicit, runtime)
    python = found.path if found else sys.executable
    if found is None and f"{sys.version_info[0]}.{sys.version_info[1]}" != runtime.version:
        print(
            f"build_package: warning: no CPython {runtime.version} found: markers are evaluated for this "
            f"Python {sys.version_info[0]}.{sys.version_info[1]}, not for {runtime.name}",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory() as scratch:
        direct = Path(scratch) / "direct.txt"
        pins = read_pins(REQUIREMENTS, runtime)
        direct.write_text(
            "\n".join(f"{name}=={pins[name]}" for name in DIRECT if name in pins) + "\n",
            encoding="utf-8",
        )
        report = Path(scratch) / "report.json"
        command = pip_command(Path(scratch) / "t", direct, pip_cache, report, runtime, python)
        subprocess.run(command, env=_pip_env(), check=True, capture_output=True)  # noqa: S603
        for item in sorted(json.loads(report.read_text())["install"], key=lambda i: normalize(i["metadata"]["name"])):
            print(f"{normalize(item['metadata']['name'])}=={item['metadata']['version']}")
    return 0


def build(
    out: Path,
    pip_cache: Path | None,
    handler: Path = HANDLER_DIR,
    python: str | None = None,
    bytecode: bool = True,
    runtime: str = DEFAULT_RUNTIME,
) -> dict[str, object]:
    """Build the package for ``runtime`` (FC's name); ``python`` compiles its bytecode (default: found)."""
    started = time.monotonic()
    target = runtime_named(runtime)
    pins = read_pins(REQUIREMENTS, target)
    compiler = find_python(python, target) if bytecode else None  # first: a wrong --python fails at once
    out.mkdir(parents=True, exist_ok=True)
    package = out / "package"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir()
    copy_code(handler, package)
    install_dependencies(package / DEPS_DIR, pip_cache, pins, target)
    check_pins(package / DEPS_DIR, pins)
    check_requirements(package / DEPS_DIR, target)
    kept: list[str] = []
    compile_seconds = 0.0
    if compiler is not None:
        compile_started = time.monotonic()
        _compileall(compiler, package / DEPS_DIR, f"{FC_CODE_ROOT}/{DEPS_DIR}", [package / DEPS_DIR], legacy=True)
        sourceless, kept = make_sourceless(package / DEPS_DIR)
        ours = sorted(p for p in package.iterdir() if p.name != DEPS_DIR and (p.is_dir() or p.suffix == ".py"))
        _compileall(compiler, package, FC_CODE_ROOT, ours, legacy=False)
        compile_seconds = time.monotonic() - compile_started
        mode = (
            f"bytecode: CPython {compiler.version} (magic {target.magic}), unchecked-hash; "
            f"python/ sourceless (legacy .pyc), our code .py + __pycache__/*.{target.pyc_tag}.pyc"
        )
        log(f"{mode}; compiled with {compiler.path} in {compile_seconds:.1f} s")
        log(f"{sourceless} dependency .py replaced by their .pyc; kept as source: {kept or 'none'}")
    elif bytecode:
        mode = f"source: no bytecode (no CPython {target.version} found)"
        warning = f"WARNING: no CPython {target.version} found, building WITHOUT bytecode: {no_bytecode_hint(target)}."
        log(warning)
        print(f"build_package: {warning}", file=sys.stderr, flush=True)
    else:
        mode = "source: no bytecode (--no-bytecode)"
        log(f"{mode}: cold starts on FC compile every imported module again")
    mode = f"{mode}; runtime {target.name}"
    check_package(package, bytecode=compiler is not None, kept_sources=kept, runtime=target)
    if compiler is not None:
        log(verify_imports(package, compiler, kept))
    zip_path = out / ZIP_NAME
    count = write_zip(package, zip_path)
    lines = write_manifest(package, out / MANIFEST_NAME, mode)
    unzipped = sum(int(line.split()[1]) for line in lines)
    zipped = zip_path.stat().st_size
    if zipped > FC_CODE_LIMIT:
        raise BuildError(f"{zip_path} is {human(zipped)}, over FC's code package limit")
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    seconds = time.monotonic() - started
    log(f"{target.name}: {count} files, {human(unzipped)} unzipped -> {zip_path}")
    log(f"{zipped} bytes ({human(zipped)} zipped)")
    log(f"sha256 {digest}; built in {seconds:.1f} s")
    return {
        "package": package,
        "zip": zip_path,
        "files": count,
        "zipped_bytes": zipped,
        "unzipped_bytes": unzipped,
        "sha256": digest,
        "seconds": seconds,
        "bytecode": compiler is not None,
        "mode": mode,
        "runtime": target.name,
        "python": compiler.path if compiler else None,
        "compile_seconds": compile_seconds,
    }


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--runtime",
        default=DEFAULT_RUNTIME,
        help=f"FC runtime the package is for: {' or '.join(RUNTIMES)} (default {DEFAULT_RUNTIME})",
    )
    parser.add_argument("--out", type=Path, default=REPO / "build", help="output folder (default: build/)")
    parser.add_argument("--handler", type=Path, default=HANDLER_DIR, help="code folder (default: handler/)")
    parser.add_argument("--pip-cache", type=Path, default=None, help="pip download cache (default: pip's own)")
    parser.add_argument(
        "--python",
        "--python312",  # an alias, for the default runtime's CPython
        dest="python",
        default=None,
        help="CPython of the runtime's version that compiles the bytecode "
        "(default: $TASKWATCH_PYXY, else pythonX.Y on PATH, else ~/.pyenv/versions/X.Y.*)",
    )
    parser.add_argument(
        "--no-bytecode", action="store_true", help="ship sources only (slower cold starts; for comparisons)"
    )
    parser.add_argument(
        "--resolve", action="store_true", help="print what pip resolves for the runtime's platform and exit"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.runtime.strip() not in RUNTIMES:
        parser.error(f"--runtime {args.runtime!r} is not supported; use one of {', '.join(RUNTIMES)}")
    try:
        if args.resolve:
            return resolve(args.pip_cache, runtime_named(args.runtime), args.python)
        build(
            args.out.resolve(),
            args.pip_cache.resolve() if args.pip_cache else None,
            args.handler.resolve(),
            args.python,
            not args.no_bytecode,
            args.runtime,
        )
    except BuildError as exc:
        print(f"build_package: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
