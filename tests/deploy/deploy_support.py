"""Helpers of the deploy tests (imported by conftest.py and the tests: tests/ has no __init__)."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
# fc3's own props schema (devsapp/fc3 `src/schema.json`, commit 4ca1c1b8), kept in the repository
# so that a plain clone checks s.yaml against it.
SCHEMA_PATH = REPO / "infra" / "fc3-schema.json"
README_PATH = REPO / "README.md"
S_VERSION = "3.1.10"  # @serverless-devs/s, pinned
S_PREFIX = CACHE / "s-cli"
S_BIN = S_PREFIX / "node_modules" / ".bin" / "s"
# CPython 3.12 / 3.10 for the package build's bytecode and for running the package (else: found by the build)
PY312_OVERRIDE = os.environ.get("TASKWATCH_PY312") or None
PY310_OVERRIDE = os.environ.get("TASKWATCH_PY310") or None

# Placeholders for the variables s.yaml requires (no default there).
REQUIRED_ENV = {
    "TASKWATCH_ROLE_ARN": "acs:ram::123456789012:role/taskwatch",
    "TASKWATCH_TARGETS": "app_one/rec/inst1@latest",
    "TASKWATCH_STATE": "oss://placeholder-bucket/taskwatch",
}


def unavailable(reason: str) -> None:
    """Skip on a user's machine; in CI (CI=true) a missing tool is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI=true: the deploy checks must run)")
    pytest.skip(reason)


def pyenv_python(version: str, explicit: str | None) -> str:
    """A CPython ``version`` (e.g. "3.12"): ``explicit``, else the newest pyenv release of it."""
    if explicit:
        return explicit
    found = sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")),
        key=lambda p: [int(x) for x in re.findall(re.escape(version) + r"\.(\d+)/", p)[:1] or [0]],
    )
    if not found:
        unavailable(
            f"no CPython {version} (pyenv's ~/.pyenv/versions/{version}.*, or TASKWATCH_PY{version.replace('.', '')})"
        )
    return found[-1]


def python312() -> str:
    return pyenv_python("3.12", PY312_OVERRIDE)


def python310() -> str:
    return pyenv_python("3.10", PY310_OVERRIDE)


def load_build_module() -> ModuleType:
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
