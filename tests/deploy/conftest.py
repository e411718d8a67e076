"""Shared fixtures of the deploy tests: the build module, the built code package, the rendered s.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from deploy_support import (
    CACHE,
    PYTHON_OVERRIDES,
    REPO,
    REQUIRED_ENV,
    load_build_module,
    python310,
    s_preview,
    unavailable,
)


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


def _build(out: Path, handler: Path, *, host: str = sys.executable, runtime: str = "python3.12") -> dict[str, Any]:
    """infra/build_package.py as the pre-deploy action runs it, by the ``host`` interpreter."""
    result = subprocess.run(  # noqa: S603
        [
            host,
            str(REPO / "infra" / "build_package.py"),
            "--out",
            str(out),
            "--handler",
            str(handler),
            "--pip-cache",
            str(CACHE / "pip"),
            "--runtime",
            runtime,
            *(["--python", PYTHON_OVERRIDES[runtime]] if PYTHON_OVERRIDES[runtime] else []),
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


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of handler/, so that every build and check sees the same code even while someone
    edits the working tree."""
    handler = tmp_path_factory.mktemp("snapshot") / "handler"
    shutil.copytree(REPO / "handler", handler, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return handler


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, snapshot: Path) -> dict[str, Any]:
    """The code package built by infra/build_package.py (the pre-deploy command) into a tmp dir."""
    return _build(tmp_path_factory.mktemp("build"), snapshot)


@pytest.fixture(scope="session")
def built_310(tmp_path_factory: pytest.TempPathFactory, snapshot: Path) -> dict[str, Any]:
    """The package for the python3.10 runtime, built by this (another) Python."""
    return _build(tmp_path_factory.mktemp("build-310"), snapshot, runtime="python3.10")


@pytest.fixture(scope="session")
def built_on_py310(tmp_path_factory: pytest.TempPathFactory, snapshot: Path) -> dict[str, Any]:
    """The default (python3.12) package, built on a Python 3.10 machine."""
    return _build(tmp_path_factory.mktemp("build-on-310"), snapshot, host=python310())
