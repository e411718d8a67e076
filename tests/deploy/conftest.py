"""Shared fixtures of the deploy tests: the build module, the built code package, the rendered s.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest
from deploy_support import CACHE, PY312_OVERRIDE, REPO, REQUIRED_ENV, load_build_module, s_preview, unavailable


@pytest.fixture(scope="session")
def build_module() -> ModuleType:
    return load_build_module()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """s.yaml rendered by the real CLI with placeholder settings."""
    result = s_preview(dict(REQUIRED_ENV), tmp_path_factory.mktemp("s-home"))
    assert result.returncode == 0, f"s preview failed:\n{result.stdout}\n{result.stderr}"
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The code package built by infra/build_package.py (the pre-deploy command) into a tmp dir."""
    out = tmp_path_factory.mktemp("build")
    # A snapshot of handler/, so that both builds and the checks see the same code even while
    # someone edits the working tree.
    handler = tmp_path_factory.mktemp("snapshot") / "handler"
    shutil.copytree(REPO / "handler", handler, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            str(REPO / "infra" / "build_package.py"),
            "--out",
            str(out),
            "--handler",
            str(handler),
            "--pip-cache",
            str(CACHE / "pip"),
            *(["--python312", PY312_OVERRIDE] if PY312_OVERRIDE else []),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0 and "pip install failed" in result.stderr and "No matching distribution" in result.stderr:
        unavailable(f"PyPI unreachable for the package build: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    return {
        "out": out,
        "handler": handler,
        "package": out / "package",
        "zip": out / "taskwatch-fc.zip",
        "log": result.stdout,
        "stderr": result.stderr,
    }
