"""s.yaml rendered by the real Serverless Devs CLI and checked against fc3's own props schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import README_PATH, REPO, REQUIRED_ENV, SCHEMA_PATH, s_preview

from taskwatch.settings import load_settings

# The settings of the README's table (the function's environment variables).
DESIGN_VARIABLES = {
    "TASKWATCH_TARGETS",
    "TASKWATCH_REGION",
    "TASKWATCH_OPENSEARCH_ENDPOINT",
    "TASKWATCH_STATE",
    "TASKWATCH_OSS_ENDPOINT",
    "TASKWATCH_KMS_ENDPOINT",
    "DINGTALK_WEBHOOK",
    "DINGTALK_SECRET",
    "DINGTALK_AT_MOBILES",
    "DINGTALK_KEYWORD",
    "TASKWATCH_PROGRESS_STEP",
    "TASKWATCH_STALL_MINUTES",
    "TASKWATCH_ERROR_TICKS",
    "TASKWATCH_HTTP_TOKEN",
    "TASKWATCH_CONCURRENCY",
    "TASKWATCH_CONFIG",
    "TASKWATCH_DISCOVER_MINUTES",
    "TASKWATCH_TIMEZONE",
    "TASKWATCH_QUIET_HOURS",
    "TASKWATCH_REMIND_HOURS",
    "TASKWATCH_REGRESSION_PCT",
}
# Read by `s` when it renders s.yaml (its vars), not by the function; in the README's table too.
DEPLOY_VARIABLES = {"TASKWATCH_SUMMARY_SCHEDULE"}
# Read by settings.py but never set through s.yaml: credentials and FC's own variables.
NOT_IN_SYAML = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "ALIBABA_CLOUD_REGION_ID",
    "FC_REGION",
}
TIMER_RE = re.compile(r"^(@every \d+(ms|s|m|h)(\d+(s|m))?|(CRON_TZ=[A-Za-z_]+/[A-Za-z_]+ )?(\S+ ){5}\S+)$")


def fc3_schema() -> dict[str, Any]:
    # A file of the repository: missing, it is a failure, never a skip.
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def props_of(document: dict[str, Any]) -> dict[str, Any]:
    resources = document["resources"]
    assert list(resources) == ["taskwatch"]
    assert resources["taskwatch"]["component"] == "fc3"
    props: dict[str, Any] = resources["taskwatch"]["props"]
    return props


def validator_for(schema: dict[str, Any], ref: str | None = None) -> Any:
    import jsonschema

    target = {"$ref": ref, "definitions": schema["definitions"]} if ref else schema
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(target)


def errors(validator: Any, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(instance)]


def test_props_validate_against_fc3_schema(rendered: dict[str, Any]) -> None:
    schema = fc3_schema()
    props = props_of(rendered)
    assert errors(validator_for(schema), props) == []
    # The schema allows unknown keys; a typo would pass silently, so check the names too.
    assert set(props) - set(schema["properties"]) == set()


def test_trigger_configs_validate_against_their_own_definitions(rendered: dict[str, Any]) -> None:
    schema = fc3_schema()
    definitions = {"timer": "ITimerTriggerConfig", "http": "IHttpTriggerConfig"}
    triggers = props_of(rendered)["triggers"]
    assert sorted(t["triggerType"] for t in triggers) == ["http", "timer", "timer"]
    for trigger in triggers:
        kind, name = trigger["triggerName"], definitions[trigger["triggerType"]]
        config = trigger["triggerConfig"]
        assert errors(validator_for(schema, f"#/definitions/{name}"), config) == [], kind
        assert set(config) - set(schema["definitions"][name]["properties"]) == set(), kind
        assert errors(validator_for(schema, "#/definitions/ITrigger"), trigger) == [], kind


def test_function_settings(rendered: dict[str, Any]) -> None:
    props = props_of(rendered)
    assert props["runtime"] == "python3.12"
    assert props["handler"] == "index.handler"
    assert props["region"] == "cn-hangzhou"
    assert props["functionName"] == "taskwatch"
    assert props["memorySize"] == 128
    assert 60 <= props["timeout"] < 300  # covers a slow tick, ends before the next default tick
    assert props["instanceConcurrency"] == 1
    assert props["logConfig"] == "auto"
    assert props["role"] == REQUIRED_ENV["TASKWATCH_ROLE_ARN"]
    assert props["asyncInvokeConfig"]["maxAsyncRetryAttempts"] == 0
    assert props["internetAccess"] is True
    # FC 3.0: vCPU : memory (GB) between 1:1 and 1:4, vCPU a multiple of 0.05.
    assert 1 <= (props["memorySize"] / 1024) / props["cpu"] <= 4
    assert round(props["cpu"] / 0.05, 6).is_integer()


def test_code_is_the_zip_the_pre_deploy_action_builds(rendered: dict[str, Any], build_module: Any) -> None:
    resource = rendered["resources"]["taskwatch"]
    assert resource["props"]["code"] == f"./build/{build_module.ZIP_NAME}"
    (action,) = resource["actions"]["pre-deploy"]
    assert action["run"] == "python3 infra/build_package.py --runtime python3.12"  # the function's runtime
    assert action["path"] == "./"
    assert resource["props"]["environmentVariables"]["PYTHONPATH"] == f"/code/{build_module.DEPS_DIR}"


def test_every_setting_is_an_env_variable_with_the_design_default(rendered: dict[str, Any]) -> None:
    variables = props_of(rendered)["environmentVariables"]
    assert set(variables) == DESIGN_VARIABLES | {"PYTHONPATH"}
    assert all(isinstance(v, str) for v in variables.values())
    assert variables["TASKWATCH_TARGETS"] == REQUIRED_ENV["TASKWATCH_TARGETS"]
    assert variables["TASKWATCH_STATE"] == REQUIRED_ENV["TASKWATCH_STATE"]
    # Every other variable is empty unless set at deploy time: a number left empty takes the config
    # file's value, then the design's default (a default written here would hide the file's).
    for optional in DESIGN_VARIABLES - {"TASKWATCH_TARGETS", "TASKWATCH_STATE"}:
        assert variables[optional] == "", optional
    # What FC would hand the function parses to the same settings as the bare required ones, the
    # design's defaults included.
    creds = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "k", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    minimal = {"TASKWATCH_TARGETS": variables["TASKWATCH_TARGETS"], "TASKWATCH_STATE": variables["TASKWATCH_STATE"]}
    context = {"region": "cn-hangzhou"}
    settings = load_settings({**variables, **creds}, context, in_fc=True)
    assert settings == load_settings({**minimal, **creds}, context, in_fc=True)
    assert (settings.progress_step, settings.stall_minutes, settings.error_ticks, settings.concurrency) == (
        25,
        60,
        3,
        16,
    )


def test_syaml_covers_every_variable_the_design_and_settings_name() -> None:
    # settings.py and the module that holds the number and text settings' variable names
    source = "".join(
        (REPO / "handler" / "taskwatch" / name).read_text(encoding="utf-8")
        for name in ("settings.py", "setting_values.py")
    )
    read_by_settings = set(re.findall(r'"((?:TASKWATCH|DINGTALK|ALIBABA_CLOUD|FC)_[A-Z_]+)"', source))
    assert read_by_settings - NOT_IN_SYAML <= DESIGN_VARIABLES
    table = re.findall(r"^\| `([A-Z_]+)` \|", README_PATH.read_text(encoding="utf-8"), re.MULTILINE)
    assert table, "the README's settings table was not found"
    assert set(table) <= DESIGN_VARIABLES | DEPLOY_VARIABLES
    assert DEPLOY_VARIABLES <= set(table)
    text = (REPO / "s.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)["resources"]["taskwatch"]["props"]["environmentVariables"]
    for name in DESIGN_VARIABLES:
        assert re.fullmatch(rf"\$\{{env\('{name}'(, '[^']*')?\)\}}", raw[name]), f"{name}: {raw[name]!r}"
    deploy_vars = " ".join(yaml.safe_load(text)["vars"].values())
    for name in DEPLOY_VARIABLES:
        assert f"${{env('{name}'" in deploy_vars, name
        assert name not in raw  # the function never reads it


def test_triggers(rendered: dict[str, Any]) -> None:
    triggers = {t["triggerName"]: t for t in props_of(rendered)["triggers"]}
    assert {name: t["triggerType"] for name, t in triggers.items()} == {
        "timer": "timer",
        "summary": "timer",
        "http": "http",
    }
    timer = triggers["timer"]["triggerConfig"]
    assert timer == {"cronExpression": "@every 5m", "enable": True, "payload": ""}
    # The summary's own timer: its payload is what makes the handler post the summary, not tick.
    summary = triggers["summary"]["triggerConfig"]
    assert summary == {"cronExpression": "CRON_TZ=Asia/Shanghai 0 0 9 * * *", "enable": True, "payload": "summary"}
    assert TIMER_RE.match(summary["cronExpression"])
    http = triggers["http"]["triggerConfig"]
    assert http["authType"] == "anonymous"  # taskwatch checks the bearer token itself
    # Every method reaches the router, which answers 405 + Allow and HEAD/OPTIONS in JSON itself.
    assert sorted(http["methods"]) == ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    assert http["disableURLInternet"] is False
    assert TIMER_RE.match(timer["cronExpression"])


def test_overrides_flow_through_and_required_ones_are_required(tmp_path: Path) -> None:
    env = {
        **REQUIRED_ENV,
        "TASKWATCH_REGION": "cn-shanghai",
        "TASKWATCH_SCHEDULE": "CRON_TZ=Asia/Shanghai 0 */10 8-22 * * *",
        "TASKWATCH_SUMMARY_SCHEDULE": "0 30 0 * * 1-5",
        "TASKWATCH_FUNCTION_NAME": "taskwatch-team-b",
        "TASKWATCH_PROGRESS_STEP": "10",
        "DINGTALK_AT_MOBILES": "13800000000",
    }
    result = s_preview(env, tmp_path / "home")
    assert result.returncode == 0, result.stderr
    props = props_of(json.loads(result.stdout))
    assert props["region"] == "cn-shanghai"
    assert props["functionName"] == "taskwatch-team-b"
    assert props["environmentVariables"]["TASKWATCH_REGION"] == "cn-shanghai"
    assert props["environmentVariables"]["TASKWATCH_PROGRESS_STEP"] == "10"
    assert props["environmentVariables"]["DINGTALK_AT_MOBILES"] == "13800000000"
    timers = {t["triggerName"]: t["triggerConfig"] for t in props["triggers"] if t["triggerType"] == "timer"}
    assert timers["timer"]["cronExpression"] == env["TASKWATCH_SCHEDULE"]
    assert timers["summary"]["cronExpression"] == env["TASKWATCH_SUMMARY_SCHEDULE"]
    assert TIMER_RE.match(env["TASKWATCH_SCHEDULE"]) and TIMER_RE.match(env["TASKWATCH_SUMMARY_SCHEDULE"])
    assert errors(validator_for(fc3_schema()), props) == []
    assert not (tmp_path / "home").joinpath(".npm").exists()
    for name in ("TASKWATCH_ROLE_ARN", "TASKWATCH_STATE"):
        missing = {k: v for k, v in REQUIRED_ENV.items() if k != name}
        result = s_preview(missing, tmp_path / f"home-{name}")
        assert result.returncode != 0, name
        assert name in result.stdout + result.stderr
    # Targets may all be in the config file: no TASKWATCH_TARGETS then.
    only_config = {k: v for k, v in REQUIRED_ENV.items() if k != "TASKWATCH_TARGETS"}
    result = s_preview({**only_config, "TASKWATCH_CONFIG": "taskwatch.toml"}, tmp_path / "home-config")
    assert result.returncode == 0, result.stderr
    variables = props_of(json.loads(result.stdout))["environmentVariables"]
    assert variables["TASKWATCH_TARGETS"] == "" and variables["TASKWATCH_CONFIG"] == "taskwatch.toml"


def test_the_schema_is_read_from_the_repository() -> None:
    assert SCHEMA_PATH.is_relative_to(REPO)
    runtimes = fc3_schema()["definitions"]["IRuntime"]["enum"]
    assert {"python3.10", "python3.12"} <= set(runtimes) and "python3.11" not in runtimes


@pytest.mark.parametrize("runtime", ["python3.10", "python3.12"])
def test_the_runtime_is_chosen_by_taskwatch_runtime(runtime: str, tmp_path: Path, build_module: Any) -> None:
    result = s_preview({**REQUIRED_ENV, "TASKWATCH_RUNTIME": runtime}, tmp_path / "home")
    assert result.returncode == 0, result.stderr
    resource = json.loads(result.stdout)["resources"]["taskwatch"]
    props = resource["props"]
    assert props["runtime"] == runtime
    assert errors(validator_for(fc3_schema()), props) == []
    # the pre-deploy build is told the same runtime, one the build knows
    (action,) = resource["actions"]["pre-deploy"]
    assert action["run"] == f"python3 infra/build_package.py --runtime {runtime}"
    assert runtime in build_module.RUNTIMES


def test_an_unsupported_runtime_stops_the_pre_deploy_build(tmp_path: Path) -> None:
    result = s_preview({**REQUIRED_ENV, "TASKWATCH_RUNTIME": "python3.11"}, tmp_path / "home")
    assert result.returncode == 0, result.stderr  # s renders any value; the build refuses it
    (action,) = json.loads(result.stdout)["resources"]["taskwatch"]["actions"]["pre-deploy"]
    command = action["run"].split()
    assert command[:2] == ["python3", "infra/build_package.py"]
    run = subprocess.run(  # noqa: S603
        [sys.executable, *command[1:], "--out", str(tmp_path / "out")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "--runtime 'python3.11' is not supported; use one of python3.10, python3.12" in run.stderr
    assert not (tmp_path / "out").exists()  # refused before anything is built
