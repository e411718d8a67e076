"""Section 5: the code package's size, exact from the built zip or estimated from the dev venv."""

from __future__ import annotations

import importlib.metadata
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.common import HANDLER, REPO, ZIP_GOAL_MB
from infra.build_package import read_pins


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
    for name in read_pins():  # the pins of the default runtime, the one s.yaml deploys
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
