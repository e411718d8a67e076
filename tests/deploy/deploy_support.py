"""Helpers of the deploy tests (imported by conftest.py and the tests: tests/ has no __init__)."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
# The props schema of Serverless Devs' fc3 component, kept in the repository so that a plain clone
# checks s.yaml against it.
SCHEMA_PATH = REPO / "infra" / "fc3-schema.json"
README_PATH = REPO / "README.md"
S_VERSION = "3.1.10"  # @serverless-devs/s, pinned
S_PREFIX = CACHE / "s-cli"
S_BIN = S_PREFIX / "node_modules" / ".bin" / "s"

# The CPython a developer names for a runtime (TASKWATCH_PY312, TASKWATCH_PY310), read once here:
# tests/conftest.py clears every TASKWATCH_* variable for each test, so the tests pass it on.
PYTHON_OVERRIDES = {
    runtime: os.environ.get("TASKWATCH_PY" + runtime.removeprefix("python").replace(".", "")) or None
    for runtime in ("python3.10", "python3.12")
}

# Placeholders for the variables s.yaml requires (no default there).
REQUIRED_ENV = {
    "TASKWATCH_ROLE_ARN": "acs:ram::123456789012:role/taskwatch",
    "TASKWATCH_TARGETS": "app_one/rec/inst1@latest",
    "TASKWATCH_STATE": "oss://placeholder-bucket/taskwatch",
}


def unavailable(reason: str) -> NoReturn:
    """Skip on a user's machine; in CI (CI=true) a missing tool is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI=true: the deploy checks must run)")
    pytest.skip(reason)


def runtime_python(runtime: str) -> Any:
    """The CPython of FC runtime ``runtime`` (e.g. "python3.12") as the package build finds it
    (``find_python``: the override, else on PATH, else pyenv's), or None."""
    build_module = load_build_module()
    return build_module.find_python(PYTHON_OVERRIDES[runtime], build_module.RUNTIMES[runtime])


def runtime_python_path(runtime: str) -> str:
    found = runtime_python(runtime)
    if found is None:
        version = runtime.removeprefix("python")
        unavailable(
            f"no CPython {version} (TASKWATCH_PY{version.replace('.', '')}, python{version} on PATH, "
            f"or pyenv's ~/.pyenv/versions/{version}.*)"
        )
    path: str = found.path
    return path


def python312() -> str:
    return runtime_python_path("python3.12")


def python310() -> str:
    return runtime_python_path("python3.10")


@functools.cache
def load_build_module() -> ModuleType:
    """infra/build_package.py, loaded once (the tests' ``build_module`` fixture is this module)."""
    spec = importlib.util.spec_from_file_location("build_package", REPO / "infra" / "build_package.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_package", module)
    spec.loader.exec_module(module)
    return module


def ensure_s_cli() -> Path:
    """@serverless-devs/s pinned, installed once into .cache/s-cli (gitignored)."""
    installed = S_PREFIX / "node_modules" / "@serverless-devs" / "s" / "package.json"
    if installed.is_file() and json.loads(installed.read_text())["version"] == S_VERSION and S_BIN.exists():
        return S_BIN
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        unavailable("node/npm not found: cannot render s.yaml with the Serverless Devs CLI")
    result = subprocess.run(  # noqa: S603
        [
            str(npm),
            "install",
            "--prefix",
            str(S_PREFIX),
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--cache",
            str(CACHE / "npm"),
            f"@serverless-devs/s@{S_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        unavailable(f"npm install @serverless-devs/s@{S_VERSION} failed: {result.stderr.strip()[-500:]}")
    return S_BIN


def s_preview(env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    """`s preview -o json --silent` on the repository's s.yaml, writing nothing to the real home."""
    s_bin = ensure_s_cli()
    home.mkdir(parents=True, exist_ok=True)
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "serverless_devs_config_home": str(home / ".s"),
        "LANG": "C.UTF-8",
        "NO_UPDATE_NOTIFIER": "1",
        **env,
    }
    return subprocess.run(  # noqa: S603
        [str(s_bin), "preview", "-o", "json", "--silent"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
