#!/usr/bin/env python3
"""Build the Function Compute code package of taskwatch.

    python3 infra/build_package.py [--out build] [--pip-cache DIR]

Result (under --out, default ``build/`` at the repository root):

- ``package/``: what FC unpacks at ``/code``: the contents of ``handler/`` (``index.py``,
  ``taskwatch/``) without caches or tests, and ``python/`` with the pinned dependencies of
  ``infra/requirements-fc.txt`` installed for Linux x86_64 and CPython 3.12 (binary wheels only,
  no bytecode). s.yaml sets ``PYTHONPATH=/code/python``.
- ``taskwatch-fc.zip``: that folder zipped reproducibly (sorted entries, fixed timestamps and
  permissions), the file s.yaml deploys.
- ``taskwatch-fc.manifest``: one line per file, ``sha256  size  path``, sorted.

Same inputs give the same file list and contents, and the same zip bytes with the same zlib.
Only the standard library and pip are needed, on any OS (the wheels are chosen for the target
platform, not the build machine). ``s deploy`` runs this as its pre-deploy action.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HANDLER_DIR = REPO / "handler"
REQUIREMENTS = REPO / "infra" / "requirements-fc.txt"
PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.12"
DEPS_DIR = "python"
DIRECT = ("aliyun-python-sdk-core", "alibabacloud-oss-v2", "requests")  # pyproject's dependencies
ZIP_NAME = "taskwatch-fc.zip"
MANIFEST_NAME = "taskwatch-fc.manifest"
# 1980-01-01 00:00:00, the earliest time a zip entry can hold; SOURCE_DATE_EPOCH overrides it.
DEFAULT_EPOCH = 315532800
FC_CODE_LIMIT = 500 * 1024 * 1024  # FC 3.0: a code package uploaded through OSS may be 500 MB

EXCLUDED_DIRS = {"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info")
EXCLUDED_FILES = {".DS_Store"}
FORBIDDEN_ANYWHERE = {"__pycache__", "taskwatch_emulator"}
FORBIDDEN_IN_CODE = {"tests", "test", "emulator"}  # our code; a dependency may ship its own tests


class BuildError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"build_package: {message}", flush=True)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path = REQUIREMENTS) -> dict[str, str]:
    """``name==version`` lines of the requirements file, by normalized name."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        if not match:
            raise BuildError(f"{path.name}:{number}: {line!r} is not pinned as name==version")
        pins[normalize(match.group(1))] = match.group(2)
    return pins


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


def pip_command(target: Path, requirements: Path, pip_cache: Path | None, dry_run_report: Path | None) -> list[str]:
    command = [
        sys.executable,
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
        PYTHON_VERSION,
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
    return command


def _pip_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PIP_TARGET", "PIP_PREFIX", "PIP_USER", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(name, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def install_dependencies(target: Path, pip_cache: Path | None) -> None:
    target.mkdir()
    command = pip_command(target, REQUIREMENTS, pip_cache, None)
    result = subprocess.run(command, env=_pip_env(), capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise BuildError(f"pip install failed (exit {result.returncode}): {' '.join(command)}")
    # Console scripts carry the build machine's interpreter path in their shebang: not wanted.
    shutil.rmtree(target / "bin", ignore_errors=True)
    for record in sorted(target.glob("*.dist-info/RECORD")):
        lines = record.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith("../")]  # the scripts just removed
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


def iter_files(root: Path) -> Iterator[Path]:
    """Every file under root, sorted by its relative POSIX path (the zip's and manifest's order)."""
    files = [path for path in root.rglob("*") if path.is_file() or path.is_symlink()]
    yield from sorted(files, key=lambda path: path.relative_to(root).as_posix())


def check_package(root: Path) -> None:
    """The package holds no tests, no emulator, no caches, no symlinks."""
    problems: list[str] = []
    for path in iter_files(root):
        relative = path.relative_to(root)
        if path.is_symlink():
            problems.append(f"symlink {relative}")
        if path.suffix in (".pyc", ".pyo"):
            problems.append(f"bytecode {relative}")
        if FORBIDDEN_ANYWHERE.intersection(relative.parts) or (
            relative.parts[0] != DEPS_DIR and FORBIDDEN_IN_CODE.intersection(relative.parts)
        ):
            problems.append(f"forbidden {relative}")
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


def write_manifest(root: Path, destination: Path) -> list[str]:
    lines = []
    for path in iter_files(root):
        data = path.read_bytes()
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {len(data)}  {path.relative_to(root).as_posix()}")
    destination.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def human(size: int) -> str:
    return f"{size / 1024 / 1024:.2f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KiB"


def resolve(pip_cache: Path | None) -> int:
    """Show what pip resolves for the target platform (to refresh the pins)."""
    import json

    with tempfile.TemporaryDirectory() as scratch:
        direct = Path(scratch) / "direct.txt"
        pins = read_pins()
        direct.write_text(
            "\n".join(f"{name}=={pins[name]}" for name in DIRECT if name in pins) + "\n",
            encoding="utf-8",
        )
        report = Path(scratch) / "report.json"
        command = pip_command(Path(scratch) / "t", direct, pip_cache, report)
        subprocess.run(command, env=_pip_env(), check=True, capture_output=True)  # noqa: S603
        for item in sorted(json.loads(report.read_text())["install"], key=lambda i: normalize(i["metadata"]["name"])):
            print(f"{normalize(item['metadata']['name'])}=={item['metadata']['version']}")
    return 0


def build(out: Path, pip_cache: Path | None, handler: Path = HANDLER_DIR) -> dict[str, object]:
    started = time.monotonic()
    pins = read_pins()
    out.mkdir(parents=True, exist_ok=True)
    package = out / "package"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir()
    copy_code(handler, package)
    install_dependencies(package / DEPS_DIR, pip_cache)
    check_pins(package / DEPS_DIR, pins)
    check_package(package)
    zip_path = out / ZIP_NAME
    count = write_zip(package, zip_path)
    lines = write_manifest(package, out / MANIFEST_NAME)
    unzipped = sum(int(line.split()[1]) for line in lines)
    zipped = zip_path.stat().st_size
    if zipped > FC_CODE_LIMIT:
        raise BuildError(f"{zip_path} is {human(zipped)}, over FC's code package limit")
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    seconds = time.monotonic() - started
    log(f"{count} files, {human(unzipped)} unzipped -> {zip_path} {zipped} bytes ({human(zipped)} zipped)")
    log(f"sha256 {digest}; built in {seconds:.1f} s")
    return {
        "package": package,
        "zip": zip_path,
        "files": count,
        "zipped_bytes": zipped,
        "unzipped_bytes": unzipped,
        "sha256": digest,
        "seconds": seconds,
    }


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "build", help="output folder (default: build/)")
    parser.add_argument("--handler", type=Path, default=HANDLER_DIR, help="code folder (default: handler/)")
    parser.add_argument("--pip-cache", type=Path, default=None, help="pip download cache (default: pip's own)")
    parser.add_argument(
        "--resolve", action="store_true", help="print what pip resolves for the target platform and exit"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        if args.resolve:
            return resolve(args.pip_cache)
        build(args.out.resolve(), args.pip_cache.resolve() if args.pip_cache else None, args.handler.resolve())
    except BuildError as exc:
        print(f"build_package: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
