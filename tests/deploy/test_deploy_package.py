"""The FC code package: built by infra/build_package.py, reproducible, and runnable on its own.

Built for the default runtime (python3.12) and for python3.10 (the runtime where 3.12 is not
offered), and built on a Python 3.10 machine: the pins' markers are the runtime's, not the builder's.

With a CPython 3.12 on the build machine the package ships bytecode (FC's /code is read-only, so
nothing compiled at a cold start is kept): python/ sourceless (legacy-layout .pyc, no .py), our code
.py + __pycache__/*.cpython-312.pyc, all unchecked-hash. The last test runs the handler from the
package alone with CPython 3.12 (pyenv's), isolated (`-I -S`: no site-packages, no user site, no
PYTHON* variables; only the package and its python/ folder on sys.path, like FC's /code; no `-B`)
on a timer event against the local emulator, and checks that the message arrives (the wheels are
the right ones and every import resolves) and that the run wrote nothing into the package (every
module came from the shipped bytecode, nothing had to be compiled).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import CACHE, PYTHON_OVERRIDES, REPO, python310, python312, runtime_python, unavailable

from taskwatch.policy import policy_document
from taskwatch.settings import load_settings

TIMER_EVENT = b'{"triggerTime":"2026-11-28T00:00:00Z","triggerName":"timer","payload":""}'
MEMORY_MB = 128
ZIP_GOAL_BYTES = 12 * 1000 * 1000  # the zipped package <= 12 MB (bench/common.py ZIP_GOAL_MB)
MAGIC_312 = (3531).to_bytes(2, "little") + b"\r\n"  # importlib.util.MAGIC_NUMBER of every CPython 3.12
MAGIC_310 = (3439).to_bytes(2, "little") + b"\r\n"  # and of every CPython 3.10

DRIVER = r"""
import json, os, resource, sys, time
package = os.getcwd()
sys.path[:0] = [package, os.path.join(package, "python")]
started = time.perf_counter()
import index
imported = time.perf_counter()

class Function:
    name = "taskwatch"; handler = "index.handler"; memory = 128; timeout = 180

class Context:
    request_id = "deploy-test-request"
    region = "cn-hangzhou"
    account_id = "123456789012"
    function = Function()

def peak_rss_mb():
    # VmHWM belongs to this program's memory; ru_maxrss would also count the forking parent (pytest)
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

result = index.handler(EVENT, Context())
done = time.perf_counter()
outside = sorted(
    m.__file__ for m in list(sys.modules.values())
    if getattr(m, "__file__", None)
    and not os.path.realpath(m.__file__).startswith(os.path.realpath(package) + os.sep)
    and not os.path.realpath(m.__file__).startswith(os.path.realpath(sys.base_prefix) + os.sep)
)
deps = os.path.realpath(os.path.join(package, "python")) + os.sep
from_deps = [os.path.realpath(f) for f in (getattr(m, "__file__", None) for m in list(sys.modules.values())) if f]
from_deps = [f for f in from_deps if f.startswith(deps)]
site_packages = sorted(
    m.__file__ for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and "site-packages" in m.__file__
)
print("DRIVER-RESULT " + json.dumps({
    "result": result,
    "version": list(sys.version_info[:3]),
    "import_s": imported - started,
    "handler_s": done - imported,
    "max_rss_mb": peak_rss_mb(),
    "outside": outside,
    "site_packages": site_packages,
    "from_deps": len(from_deps),
    "deps_from_source": sorted(f for f in from_deps if f.endswith(".py")),
    "emulator_loaded": any(name.startswith("taskwatch_emulator") for name in sys.modules),
}))
"""


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[deploy] {line}")


def bytecode_expected(runtime: str = "python3.12") -> bool:
    """Whether the build found a CPython of the runtime's version (it then must have compiled the package)."""
    return runtime_python(runtime) is not None


def test_package_contents(built: dict[str, Any], build_module: Any, capsys: pytest.CaptureFixture[str]) -> None:
    package: Path = built["package"]
    names = files_under(package)
    bytecode = bytecode_expected()
    assert "index.py" in names and "taskwatch/__init__.py" in names and "taskwatch/fc.py" in names
    # Besides the code, a TOML config beside index.py ships (TASKWATCH_CONFIG=taskwatch.toml finds it).
    top = {name.split("/", 1)[0] for name in names if not name.endswith(".toml")}
    assert "taskwatch.example.toml" in names
    assert top == (
        {"index.py", "__pycache__", "taskwatch", "python"} if bytecode else {"index.py", "taskwatch", "python"}
    )
    for name in names:
        parts = name.split("/")
        if parts[0] == "python" or not bytecode:
            assert "__pycache__" not in parts, name  # only our code gets __pycache__
        assert not name.endswith(".pyo"), name
        assert "taskwatch_emulator" not in parts and "emulator" not in parts, name
        if parts[0] != "python":
            assert "tests" not in parts and "test" not in parts, name
    assert not any(n.startswith("python/bin/") for n in names)
    # our code is exactly handler/ (the snapshot the build was given) minus caches, bytes unchanged,
    # plus (bytecode mode) one __pycache__/<name>.cpython-312.pyc per .py and nothing else
    handler: Path = built["handler"]
    expected = files_under(handler)
    pycs = [
        str(Path(n).parent / "__pycache__" / f"{Path(n).stem}.cpython-312.pyc").removeprefix("./")
        for n in expected
        if n.endswith(".py")
    ]
    ours = [n for n in names if not n.startswith("python/")]
    assert ours == (sorted(expected + pycs) if bytecode else expected)
    for name in expected:
        assert (package / name).read_bytes() == (handler / name).read_bytes(), name
    # the zip holds the same files, sorted, with fixed timestamps and unix permissions
    with zipfile.ZipFile(built["zip"]) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == names
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {(i.external_attr >> 16) & 0o777 for i in infos} <= {0o644, 0o755}
        assert archive.testzip() is None
    size = built["zip"].stat().st_size
    unzipped = sum((package / n).stat().st_size for n in names)
    report(
        capsys,
        f"code package {built['zip'].name} ({'bytecode' if bytecode else 'sources only'}): {size} bytes "
        f"({size / 1e6:.2f} MB, {size / 1024 / 1024:.2f} MiB) zipped, {unzipped / 1e6:.2f} MB unzipped, "
        f"{len(names)} files",
    )
    report(capsys, built["log"].strip().replace("\n", "\n[deploy] "))
    assert size <= ZIP_GOAL_BYTES, f"{size / 1e6:.2f} MB zipped, over the 12 MB goal"


def test_package_ships_sourceless_dependencies_and_our_bytecode(built: dict[str, Any], build_module: Any) -> None:
    if not bytecode_expected():
        unavailable("no CPython 3.12 (python3.12 on PATH, ~/.pyenv/versions/3.12.*, TASKWATCH_PY312): no bytecode")
    package: Path = built["package"]
    manifest = (built["out"] / build_module.MANIFEST_NAME).read_text().splitlines()
    assert manifest[0].startswith("# bytecode: CPython 3.12."), manifest[0]
    assert manifest[0].endswith("; runtime python3.12"), manifest[0]
    assert "bytecode: CPython 3.12." in built["log"] and "imports verified" in built["log"]
    assert "WARNING" not in built["log"] + built["stderr"]
    deps = package / "python"
    sources = sorted(p.relative_to(deps).as_posix() for p in deps.rglob("*.py"))
    assert sources == sorted(build_module.KEEP_SOURCES), sources[:10]
    compiled = sorted(deps.rglob("*.pyc"))
    assert len(compiled) > 500  # the SDKs, requests, cryptography, ...
    ours = sorted(p for p in package.rglob("*.pyc") if not p.is_relative_to(deps))
    for pyc in compiled + ours:
        header = pyc.read_bytes()[:16]
        assert header[:4] == MAGIC_312, pyc  # CPython 3.12's bytecode, no other version
        assert header[4:8] == (1).to_bytes(4, "little"), pyc  # unchecked-hash: no mtime, never re-checked
    # every package of python/ is importable without a source: __init__.pyc beside no __init__.py
    assert (deps / "aliyunsdkcore" / "__init__.pyc").is_file() and not (deps / "requests" / "__init__.py").exists()
    # RECORD names the .pyc now (what importlib.metadata and the bench's size attribution read)
    record = next(deps.glob("requests-*.dist-info/RECORD")).read_text()
    assert "requests/__init__.pyc,sha256=" in record and "requests/__init__.py," not in record
    # the .pyc name FC's /code in tracebacks (code.co_filename), not the build folder
    for pyc, fc_path in (
        (deps / "requests" / "api.pyc", "/code/python/requests/api.py"),
        (package / "taskwatch" / "__pycache__" / "fc.cpython-312.pyc", "/code/taskwatch/fc.py"),
    ):
        data = pyc.read_bytes()
        assert fc_path.encode() in data and str(package).encode() not in data, pyc


def test_dependencies_are_the_pinned_linux_cp312_wheels(built: dict[str, Any], build_module: Any) -> None:
    deps: Path = built["package"] / "python"
    pins = build_module.read_pins()
    assert build_module.installed_distributions(deps) == pins
    # the direct dependencies of pyproject.toml are all pinned
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.MULTILINE | re.DOTALL)
    assert block is not None
    runtime = build_module.RUNTIMES["python3.12"]
    direct: dict[str, bool] = {}  # name -> whether its marker holds on the runtime
    for requirement in re.findall(r'"([^"]+)"', block.group(1)):
        marker = requirement.partition(";")[2].strip()
        holds = not marker or build_module.marker_holds(marker, runtime, "pyproject.toml")
        direct[build_module.normalize(re.split(r"[<>=!~ ;\[]", requirement)[0])] = holds
    needed = {name for name, holds in direct.items() if holds}
    assert needed <= set(pins), needed - set(pins)
    assert set(build_module.DIRECT) == set(direct)
    # compiled modules are for CPython 3.12 (or the stable ABI) on Linux x86_64
    extensions = [p for p in deps.rglob("*.so")]
    assert extensions, "expected compiled wheels (cryptography, cffi, pycryptodome)"
    for ext in extensions:
        assert re.search(r"(cpython-312-x86_64-linux-gnu|abi3)\.so$", ext.name) or ".cpython-" not in ext.name, ext
        assert ext.read_bytes()[:4] == b"\x7fELF", ext
    for wheel in deps.glob("*.dist-info/WHEEL"):
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
        assert any(t.endswith("-any") or ("manylinux" in t and "x86_64" in t) for t in tags), (wheel, tags)


def test_build_is_reproducible(built: dict[str, Any], tmp_path: Path, build_module: Any) -> None:
    again = build_module.build(tmp_path / "again", CACHE / "pip", built["handler"], PYTHON_OVERRIDES["python3.12"])
    assert again["bytecode"] == bytecode_expected()
    assert files_under(again["package"]) == files_under(built["package"])
    first = (built["out"] / build_module.MANIFEST_NAME).read_text()
    assert (tmp_path / "again" / build_module.MANIFEST_NAME).read_text() == first
    digest = hashlib.sha256(built["zip"].read_bytes()).hexdigest()
    assert again["sha256"] == digest  # same interpreters (pip's and the 3.12 compiling) and zlib: byte-identical


def test_build_without_python312_warns_and_ships_sources_only(
    built: dict[str, Any],
    build_module: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(build_module, "find_python", lambda explicit, runtime: None)
    result = build_module.build(tmp_path / "src", CACHE / "pip", built["handler"])
    err = capsys.readouterr().err
    assert not result["bytecode"] and result["mode"].startswith("source")
    assert "WARNING: no CPython 3.12 found, building WITHOUT bytecode" in err
    assert "cold start" in err and "--python /path/to/python3.12" in err  # what it costs and how to fix it
    manifest = (tmp_path / "src" / build_module.MANIFEST_NAME).read_text().splitlines()
    assert manifest[0] == "# source: no bytecode (no CPython 3.12 found); runtime python3.12"
    names = files_under(result["package"])
    assert not [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
    assert "python/requests/__init__.py" in names


def test_find_python_checks_what_it_finds(build_module: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = build_module.RUNTIMES["python3.12"]
    monkeypatch.delenv(runtime.override_env, raising=False)
    other = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.11.*/bin/python")))
    if other:
        with pytest.raises(build_module.BuildError, match=r"not CPython 3\.12"):
            build_module.find_python(other[-1], runtime)
    with pytest.raises(build_module.BuildError, match="cannot run it"):
        build_module.find_python(str(tmp_path / "missing-python"), runtime)
    # a python3.12 on PATH that does not run (e.g. a pyenv shim with no 3.12 selected) is skipped
    shim = tmp_path / "bin" / "python3.12"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(shim.parent))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    assert build_module.find_python(None, runtime) is None
    # $TASKWATCH_PY312 comes before PATH and, like --python, must work
    monkeypatch.setenv(runtime.override_env, str(tmp_path / "missing-python"))
    with pytest.raises(build_module.BuildError, match=r"TASKWATCH_PY312 .*cannot run it"):
        build_module.find_python(None, runtime)


def test_find_python_gives_the_interpreter_not_its_launcher(
    build_module: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A launcher (like a working pyenv shim) found first yields the interpreter it runs: the bench
    times cold starts with that path, which must not include a shell's detour."""
    runtime = build_module.RUNTIMES["python3.12"]
    real = build_module.find_python(None, runtime)
    if real is None:
        unavailable("no CPython 3.12")
    launcher = tmp_path / "bin" / "python3.12"
    launcher.parent.mkdir()
    launcher.write_text(f'#!/bin/sh\nexec "{real.path}" "$@"\n')
    launcher.chmod(0o755)
    monkeypatch.delenv(runtime.override_env, raising=False)
    monkeypatch.setenv("PATH", str(launcher.parent))
    assert build_module.find_python(None, runtime).path == real.path
    monkeypatch.setenv(runtime.override_env, str(launcher))
    assert build_module.find_python(None, runtime).path == real.path
    assert build_module.find_python(str(launcher), runtime).path == real.path


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_check_package_rules(build_module: Any, tmp_path: Path) -> None:
    pyc = MAGIC_312 + (1).to_bytes(4, "little") + bytes(8) + b"code"
    good = {
        "index.py": b"",
        "__pycache__/index.cpython-312.pyc": pyc,
        "taskwatch/__init__.py": b"",
        "taskwatch/__pycache__/__init__.cpython-312.pyc": pyc,
        "python/requests/__init__.pyc": pyc,
        "python/requests/py.typed": b"",
        "python/Crypto/Cipher/_raw.so": b"\x7fELF",
    }
    check = build_module.check_package
    check(_tree(tmp_path / "good", good), bytecode=True)
    with pytest.raises(
        build_module.BuildError, match="bytecode __pycache__/index"
    ):  # sources-only build: no .pyc at all
        check(tmp_path / "good", bytecode=False)
    check(_tree(tmp_path / "sources", {"index.py": b"", "taskwatch/__init__.py": b"", "python/a.py": b""}))
    bad = {
        "taskwatch/__pycache__/__init__.cpython-311.pyc": pyc,  # another Python's name
        "taskwatch/__pycache__/gone.cpython-312.pyc": pyc,  # no source beside
        "taskwatch/stray.pyc": pyc,  # legacy layout in our code
        "taskwatch/__pycache__/notes.txt": b"",  # not bytecode in a cache
        "taskwatch/new.py": b"",  # not compiled
        "python/requests/__pycache__/api.cpython-312.pyc": pyc,  # cache in the sourceless tree
        "python/requests/api.py": b"",  # source left beside (not in KEEP_SOURCES)
        "python/idna/core.pyc": (3495).to_bytes(2, "little") + b"\r\n" + bytes(12),  # 3.11's magic
        "python/idna/codec.pyc": MAGIC_312 + bytes(12),  # timestamp-checked
        "python/x.pyo": b"",
    }
    for number, (name, data) in enumerate(bad.items()):
        root = _tree(tmp_path / f"bad{number}", {**good, name: data})
        with pytest.raises(build_module.BuildError, match="package check failed") as failure:
            check(root, bytecode=True)
        assert name in str(failure.value), (name, str(failure.value))
    check(_tree(tmp_path / "kept", {**good, "python/cffi/data.py": b""}), bytecode=True, kept_sources={"cffi/data.py"})


def test_build_refuses_unpinned_requirements(build_module: Any, tmp_path: Path) -> None:
    loose = tmp_path / "req.txt"
    loose.write_text("requests>=2\n")
    with pytest.raises(build_module.BuildError, match="not pinned"):
        build_module.read_pins(loose)


@pytest.mark.parametrize("runtime", ["python3.12", "python3.10"])
def test_handler_runs_from_the_package_alone(
    runtime: str, request: pytest.FixtureRequest, build_module: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskwatch_emulator import Emulator, Step

    built: dict[str, Any] = request.getfixturevalue("built" if runtime == "python3.12" else "built_310")
    python = python312() if runtime == "python3.12" else python310()
    package: Path = built["package"]
    syaml = yaml.safe_load((REPO / "s.yaml").read_text(encoding="utf-8"))
    defaults = {}  # what s.yaml sets when only the required variables are given
    for name, raw in syaml["resources"]["taskwatch"]["props"]["environmentVariables"].items():
        match = re.fullmatch(r"\$\{env\('[A-Z_]+', '([^']*)'\)\}", str(raw))
        defaults[name] = match.group(1) if match else str(raw)
    targets = "app_one/rec/inst1, app_two/rank/inst9@1700000000"
    with Emulator() as emu:
        emu.opensearch.add_task("app_one", "rec", "inst1", 1764288000000, [Step("running", 40)])
        emu.opensearch.add_task("app_two", "rank", "inst9", 1700000000, [Step("success", 100, {"recall": 91})])
        env = {
            **defaults,
            "TASKWATCH_TARGETS": targets,
            **emu.env(bucket="state-bucket", prefix="taskwatch"),
            "PATH": "/usr/bin:/bin",
            "HOME": str(package),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
        }
        before = files_under(package)
        started = time.monotonic()
        result = subprocess.run(  # noqa: S603
            [python, "-I", "-S", "-c", DRIVER.replace("EVENT", repr(TIMER_EVENT))],
            cwd=package,
            env=env,  # no HTTP(S)_PROXY: the OpenSearch SDK would send loopback calls through it
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        wall = time.monotonic() - started
        written = sorted(set(files_under(package)) - set(before))
        assert result.returncode == 0, f"handler failed:\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        line = next(ln for ln in result.stdout.splitlines() if ln.startswith("DRIVER-RESULT "))
        info = json.loads(line[len("DRIVER-RESULT ") :])
        messages = emu.dingtalk.wait_for(1, timeout=5)
        oss_calls = list(emu.oss.calls)
        opensearch_calls = list(emu.opensearch.calls)
        state_keys = emu.oss.keys_in("state-bucket", "taskwatch/")
        assert not (emu.oss.errors or emu.opensearch.errors or emu.dingtalk.errors)

    assert info["version"][:2] == [3, int(runtime.removeprefix("python3."))]
    bytecode = bytecode_expected(runtime)
    if bytecode:
        # no -B, and the package is writable here: Python would have written a __pycache__ .pyc for
        # any module of the package it had to compile. Nothing: all came from the shipped bytecode.
        assert written == [], written[:10]
        assert info["from_deps"] > 300 and info["deps_from_source"] == [], info["deps_from_source"][:10]
    assert info["outside"] == [], "modules loaded from outside the package and the standard library"
    assert info["site_packages"] == []
    assert not info["emulator_loaded"]
    assert len(messages) == 1, messages
    text = emu.dingtalk.texts()[0]
    assert "app_one/rec/inst1" in text and "app_two/rank/inst9" in text
    assert "taskwatch/state.json" in state_keys
    # every request the function made is one the RAM policy for these settings allows
    settings = load_settings({**env, "TASKWATCH_OSS_ENDPOINT": ""}, require_credentials=False)
    allowed = allowed_requests(policy_document(settings))
    for call in opensearch_calls:
        app_group = call.path.split("/")[4]
        assert ("opensearch:DescribeFunction", app_group) in allowed, call
    for call in oss_calls:
        bucket, _, key = call.path.lstrip("/").partition("/")
        action = {"GET": "oss:GetObject", "HEAD": "oss:GetObject", "PUT": "oss:PutObject", "DELETE": "oss:DeleteObject"}
        if key:
            assert (action[call.method], f"{bucket}/{key}") in allowed, call
        else:
            assert call.method == "GET" and ("oss:ListObjects", f"{bucket}?{call.query.get('prefix') or ''}") in allowed
    assert info["max_rss_mb"] < MEMORY_MB * 0.75, f"peak RSS {info['max_rss_mb']:.0f} MB is close to {MEMORY_MB} MB"
    report(
        capsys,
        f"handler from the {runtime} package ({'bytecode' if bytecode else 'sources only'}) with {Path(python).name} "
        f"{'.'.join(map(str, info['version']))} -I -S: "
        f"import {info['import_s']:.2f} s, first tick {info['handler_s']:.2f} s, peak RSS {info['max_rss_mb']:.0f} MB, "
        f"process {wall:.2f} s; {len(messages)} message, {len(opensearch_calls)} OpenSearch and "
        f"{len(oss_calls)} OSS requests, all within the RAM policy",
    )


class _Allowed:
    """Membership test of (action, resource) against a policy document's prefix-style ARNs."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.rules: list[tuple[str, str, str | None]] = []
        for statement in document["Statement"]:
            condition = statement.get("Condition", {}).get("StringLike", {}).get("oss:Prefix", [None])[0]
            for action in statement["Action"]:
                for resource in statement["Resource"]:
                    self.rules.append((action, resource, condition))

    def __contains__(self, item: tuple[str, str]) -> bool:
        action, target = item
        for rule_action, resource, condition in self.rules:
            if rule_action != action:
                continue
            if action == "opensearch:DescribeFunction" and resource.endswith(f":apps/{target}"):
                return True
            if action == "oss:ListObjects":
                bucket, _, prefix = target.partition("?")
                if resource.endswith(f":{bucket}") and (condition is None or prefix.startswith(condition.rstrip("*"))):
                    return True
            elif action.startswith("oss:") and resource.endswith("*"):
                bucket_prefix = resource.split(":", 4)[4].rstrip("*")
                if target.startswith(bucket_prefix):
                    return True
        return False


def allowed_requests(document: dict[str, Any]) -> _Allowed:
    return _Allowed(document)


def test_allowed_helper_is_strict() -> None:
    settings = load_settings(
        {"TASKWATCH_TARGETS": "g/f/i", "TASKWATCH_REGION": "cn-hangzhou", "TASKWATCH_STATE": "oss://bkt/p"},
        require_credentials=False,
    )
    allowed = allowed_requests(policy_document(settings))
    assert ("opensearch:DescribeFunction", "g") in allowed
    assert ("opensearch:DescribeFunction", "h") not in allowed
    assert ("oss:PutObject", "bkt/p/state.json") in allowed
    assert ("oss:PutObject", "bkt/q/state.json") not in allowed
    assert ("oss:PutObject", "other/p/state.json") not in allowed
    assert ("oss:ListObjects", "bkt?p/claims/") in allowed
    assert ("oss:ListObjects", "bkt?") not in allowed
    assert sys.version_info >= (3, 10)


def test_sourceless_compile_of_a_small_tree(build_module: Any, tmp_path: Path) -> None:
    """compileall -b + make_sourceless on a tiny python/: .pyc replace .py, RECORD follows, a file
    that does not compile (or is listed in KEEP_SOURCES) stays as source, and the result imports."""
    python = runtime_python("python3.12")
    if python is None:
        unavailable("no CPython 3.12 to compile with")
    deps = _tree(
        tmp_path / "package" / "python",
        {
            "pkg/__init__.py": b"VALUE = {'a', 'b'}\n",
            "pkg/mod.py": b"def f():\n    return 42\n",
            "pkg/data.py": b"# read as data\n",
            "pkg/py2.py": b"print 'not python 3'\n",
            "pkg-1.0.dist-info/RECORD": b"pkg/__init__.py,sha256=x,19\npkg/mod.py,sha256=y,24\npkg/py2.py,,\n",
        },
    )
    build_module._compileall(python, deps, "/code/python", [deps], legacy=True)
    removed, kept = build_module.make_sourceless(deps, frozenset({"pkg/data.py"}))
    assert removed == 2 and kept == ["pkg/data.py", "pkg/py2.py"]
    assert sorted(p.name for p in (deps / "pkg").iterdir()) == [
        "__init__.pyc",
        "data.py",
        "data.pyc",
        "mod.pyc",
        "py2.py",
    ]
    record = (deps / "pkg-1.0.dist-info" / "RECORD").read_text().splitlines()
    size = (deps / "pkg" / "mod.pyc").stat().st_size
    assert (
        record[1].startswith("pkg/mod.pyc,sha256=") and record[1].endswith(f",{size}") and record[2] == "pkg/py2.py,,"
    )
    run = subprocess.run(  # noqa: S603
        [
            python.path,
            "-I",
            "-S",
            "-B",
            "-c",
            "import sys; sys.path[:0] = [sys.argv[1]]; import pkg.mod; "
            "print(pkg.mod.f(), pkg.mod.__file__, pkg.mod.f.__code__.co_filename)",
            str(deps),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.split() == ["42", str(deps / "pkg" / "mod.pyc"), "/code/python/pkg/mod.py"]


def test_a_build_on_python310_gives_the_same_python312_package(
    built: dict[str, Any], built_on_py310: dict[str, Any], build_module: Any
) -> None:
    """pip evaluates dependency markers for the Python that runs it: on 3.10 it would add
    cryptography's `typing-extensions; python_full_version < '3.11'` and refuse pycparser 3.12
    (Requires-Python >= 3.11), for a package that runs on 3.12."""
    pins = build_module.read_pins()
    assert "typing-extensions" not in pins and pins["pycparser"] == "3.12"
    deps: Path = built_on_py310["package"] / "python"
    assert build_module.installed_distributions(deps) == pins
    first = (built["out"] / build_module.MANIFEST_NAME).read_text()
    assert (built_on_py310["out"] / build_module.MANIFEST_NAME).read_text() == first  # every file, byte for byte
    assert hashlib.sha256(built_on_py310["zip"].read_bytes()).hexdigest() == (
        hashlib.sha256(built["zip"].read_bytes()).hexdigest()
    )


def test_the_python310_package_has_the_310_dependencies_and_bytecode(
    built_310: dict[str, Any], build_module: Any
) -> None:
    runtime = build_module.RUNTIMES["python3.10"]
    deps: Path = built_310["package"] / "python"
    installed = build_module.installed_distributions(deps)
    assert installed == build_module.read_pins(build_module.REQUIREMENTS, runtime)
    assert installed["typing-extensions"] == "4.16.0" and installed["pycparser"] == "3.11"  # what 3.10 needs
    for ext in deps.rglob("*.so"):
        assert re.search(r"(cpython-310-x86_64-linux-gnu|abi3)\.so$", ext.name) or ".cpython-" not in ext.name, ext
    manifest = (built_310["out"] / build_module.MANIFEST_NAME).read_text().splitlines()
    assert manifest[0].endswith("; runtime python3.10"), manifest[0]
    if not bytecode_expected("python3.10"):
        unavailable("no CPython 3.10 (python3.10 on PATH, ~/.pyenv/versions/3.10.*, TASKWATCH_PY310): no bytecode")
    assert manifest[0].startswith("# bytecode: CPython 3.10."), manifest[0]
    pycs = sorted(built_310["package"].rglob("*.pyc"))
    assert len(pycs) > 500
    assert {p.read_bytes()[:8] for p in pycs} == {MAGIC_310 + (1).to_bytes(4, "little")}
    assert (built_310["package"] / "taskwatch" / "__pycache__" / "fc.cpython-310.pyc").is_file()
    build_module.check_package(built_310["package"], bytecode=True, runtime=runtime)
    with pytest.raises(build_module.BuildError, match=re.escape("not CPython 3.12 unchecked-hash bytecode")):
        build_module.check_package(built_310["package"], bytecode=True)  # the python3.12 rules refuse it


def test_pins_apply_by_the_runtimes_python(build_module: Any, tmp_path: Path) -> None:
    py310, py312 = build_module.RUNTIMES["python3.10"], build_module.RUNTIMES["python3.12"]
    pins = tmp_path / "req.txt"
    pins.write_text('a==1\nb==2 ; python_version < "3.11"  # why\nb==3 ; python_version >= "3.11"\n')
    assert build_module.read_pins(pins, py310) == {"a": "1", "b": "2"}
    assert build_module.read_pins(pins, py312) == {"a": "1", "b": "3"}
    pins.write_text('a==1\na==2 ; python_version < "3.11"\n')
    with pytest.raises(build_module.BuildError, match=re.escape("a is pinned twice for python3.10")):
        build_module.read_pins(pins, py310)
    pins.write_text("a==1 ; python_version <<< 3\n")
    with pytest.raises(build_module.BuildError, match="bad marker"):
        build_module.read_pins(pins, py312)


def test_check_requirements_evaluates_markers_for_the_runtime(build_module: Any, tmp_path: Path) -> None:
    py310, py312 = build_module.RUNTIMES["python3.10"], build_module.RUNTIMES["python3.12"]
    metadata = (
        "Metadata-Version: 2.1\nName: crypto\nVersion: 1.0\nRequires-Python: >=3.9, !=3.9.0\n"
        "Requires-Dist: cffi>=2 ; platform_python_implementation != 'PyPy'\n"
        "Requires-Dist: typing-extensions>=4.13.2 ; python_full_version < '3.11'\n"
        "Requires-Dist: pytest ; extra == 'test'\n\nA description.\n"
    )
    deps = _tree(
        tmp_path / "python",
        {"crypto-1.0.dist-info/METADATA": metadata.encode(), "cffi-2.1.dist-info/METADATA": b"Name: cffi\n"},
    )
    build_module.check_requirements(deps, py312)  # nothing else needed on 3.12, whatever runs the build
    with pytest.raises(build_module.BuildError, match=re.escape('fit python3.10: crypto needs "typing-extensions')):
        build_module.check_requirements(deps, py310)
    _tree(deps, {"typing_extensions-4.12.0.dist-info/METADATA": b"Name: typing_extensions\n"})
    with pytest.raises(build_module.BuildError, match=re.escape("pinned: 4.12.0")):
        build_module.check_requirements(deps, py310)  # too old for the requirement
    _tree(deps, {"new-1.0.dist-info/METADATA": b"Name: new\nRequires-Python: >=3.11\n"})
    with pytest.raises(build_module.BuildError, match=re.escape("new requires Python >=3.11")):
        build_module.check_requirements(deps, py310)


def test_an_unsupported_runtime_is_refused(
    build_module: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        build_module.main(["--runtime", "python3.11", "--out", str(tmp_path / "out")])
    assert done.value.code == 2
    assert "--runtime 'python3.11' is not supported; use one of python3.10, python3.12" in capsys.readouterr().err
    with pytest.raises(build_module.BuildError, match=re.escape("runtime 'python3.9' is not supported")):
        build_module.build(tmp_path / "out", None, runtime="python3.9")
    assert not (tmp_path / "out").exists()


def test_zone_names_work_from_the_package_on_a_runtime_without_zone_files(built: dict[str, Any]) -> None:
    # zoneinfo reads the system's files first; an empty search path is a runtime without them: the
    # tzdata the package ships must answer. And pycryptodome's own tests are not shipped.
    package: Path = built["package"]
    assert not (package / "python" / "Crypto" / "SelfTest").exists()
    python = python312() or sys.executable
    probe = (
        f"import sys; sys.path[:0] = [{str(package / 'python')!r}]; import zoneinfo, datetime; "
        "zoneinfo.reset_tzpath([]); "
        "print(datetime.datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo('Asia/Shanghai')).utcoffset())"
    )
    run = subprocess.run(  # noqa: S603 - our own probe
        [str(python), "-I", "-S", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 and run.stdout.strip() == "8:00:00", run.stderr[-500:]
