"""The FC code package: built by infra/build_package.py, reproducible, and runnable on its own.

The last test runs the handler from the package alone with CPython 3.12 (pyenv's), isolated
(`-I -S`: no site-packages, no user site, no PYTHON* variables; only the package and its
python/ folder on sys.path, like FC's /code) on a timer event against the local emulator, and
checks that the message arrives: the wheels are the right ones and every import resolves.
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
from deploy_support import CACHE, REPO, unavailable

from taskwatch.policy import policy_document
from taskwatch.settings import load_settings

TIMER_EVENT = b'{"triggerTime":"2026-11-28T00:00:00Z","triggerName":"timer","payload":""}'
MEMORY_MB = 128

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
    "emulator_loaded": any(name.startswith("taskwatch_emulator") for name in sys.modules),
}))
"""


def python312() -> str:
    explicit = os.environ.get("TASKWATCH_PY312")
    if explicit:
        return explicit
    found = sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python3.12")),
        key=lambda p: [int(x) for x in re.findall(r"3\.12\.(\d+)", p)[:1] or [0]],
    )
    if not found:
        unavailable("no CPython 3.12 (pyenv's ~/.pyenv/versions/3.12.*, or TASKWATCH_PY312) to run the package with")
    return found[-1]


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[deploy] {line}")


def test_package_contents(built: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    package: Path = built["package"]
    names = files_under(package)
    assert "index.py" in names and "taskwatch/__init__.py" in names and "taskwatch/fc.py" in names
    top = {name.split("/", 1)[0] for name in names}
    assert top == {"index.py", "taskwatch", "python"}, top
    for name in names:
        parts = name.split("/")
        assert "__pycache__" not in parts, name
        assert not name.endswith((".pyc", ".pyo")), name
        assert "taskwatch_emulator" not in parts and "emulator" not in parts, name
        if parts[0] != "python":
            assert "tests" not in parts and "test" not in parts, name
    assert not any(n.startswith("python/bin/") for n in names)
    # our code is exactly handler/ (the snapshot the build was given) minus caches, bytes unchanged
    handler: Path = built["handler"]
    expected = files_under(handler)
    assert [n for n in names if not n.startswith("python/")] == expected
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
    report(
        capsys,
        f"code package {built['zip'].name}: {size} bytes ({size / 1024 / 1024:.2f} MiB) zipped, {len(names)} files",
    )
    report(capsys, built["log"].strip().replace("\n", "\n[deploy] "))
    assert size < 50 * 1024 * 1024  # far below FC's limit; a jump means an unwanted dependency


def test_dependencies_are_the_pinned_linux_cp312_wheels(built: dict[str, Any], build_module: Any) -> None:
    deps: Path = built["package"] / "python"
    pins = build_module.read_pins()
    assert build_module.installed_distributions(deps) == pins
    # the direct dependencies of pyproject.toml are all pinned
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.MULTILINE | re.DOTALL)
    assert block is not None
    direct = {build_module.normalize(re.split(r"[<>=!~ ;\[]", d)[0]) for d in re.findall(r'"([^"]+)"', block.group(1))}
    assert direct <= set(pins), direct - set(pins)
    assert set(build_module.DIRECT) == direct
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
    again = build_module.build(tmp_path / "again", CACHE / "pip", built["handler"])
    assert files_under(again["package"]) == files_under(built["package"])
    first = (built["out"] / build_module.MANIFEST_NAME).read_text()
    assert (tmp_path / "again" / build_module.MANIFEST_NAME).read_text() == first
    digest = hashlib.sha256(built["zip"].read_bytes()).hexdigest()
    assert again["sha256"] == digest  # same interpreter and zlib here: byte-identical


def test_build_refuses_unpinned_requirements(build_module: Any, tmp_path: Path) -> None:
    loose = tmp_path / "req.txt"
    loose.write_text("requests>=2\n")
    with pytest.raises(build_module.BuildError, match="not pinned"):
        build_module.read_pins(loose)


def test_handler_runs_from_the_package_alone(built: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from taskwatch_emulator import Emulator, Step

    python = python312()
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
        assert result.returncode == 0, f"handler failed:\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        line = next(ln for ln in result.stdout.splitlines() if ln.startswith("DRIVER-RESULT "))
        info = json.loads(line[len("DRIVER-RESULT ") :])
        messages = emu.dingtalk.wait_for(1, timeout=5)
        oss_calls = list(emu.oss.calls)
        opensearch_calls = list(emu.opensearch.calls)
        state_keys = emu.oss.keys_in("state-bucket", "taskwatch/")
        assert not (emu.oss.errors or emu.opensearch.errors or emu.dingtalk.errors)

    assert info["version"][:2] == [3, 12]
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
        f"handler from the package with {Path(python).name} {'.'.join(map(str, info['version']))}: "
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
