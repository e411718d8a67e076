"""The parts of the bench package that must agree with each other, checked without running a benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cold_child  # noqa: E402
from bench.cold_start import COLD_VARIANTS  # noqa: E402
from bench.runtimes import find_python312  # noqa: E402
from infra.build_package import RUNTIMES, find_python  # noqa: E402


def test_the_cold_child_runs_every_variant_the_report_labels() -> None:
    assert list(cold_child.VARIANTS) == list(COLD_VARIANTS)


def test_the_bench_finds_the_python_the_build_finds() -> None:
    assert find_python312(None) == find_python(None, RUNTIMES["python3.12"])


def test_every_bench_module_stays_small() -> None:
    # Small modules that each do one part: a section that grows past this gets a module of its own.
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in (ROOT / "bench").glob("*.py")}
    assert {name: n for name, n in sizes.items() if n >= 400} == {}
