"""The RAM documents of infra/ and `taskwatch policy` (taskwatch.policy)."""

from __future__ import annotations

import io
import json
import os
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from xml.etree import ElementTree

import pytest

from taskwatch.policy import (
    PolicyRequest,
    dump,
    lifecycle_document,
    lifecycle_xml,
    notes,
    policy_document,
    render,
    run,
    trust_policy,
)
from taskwatch.settings import Settings, load_settings

INFRA = Path(__file__).resolve().parents[2] / "infra"


def settings_for(
    targets: str, state: str = "oss://state-bucket/team/taskwatch", region: str = "cn-shanghai"
) -> Settings:
    env = {"TASKWATCH_TARGETS": targets, "TASKWATCH_STATE": state, "TASKWATCH_REGION": region}
    return load_settings(env, require_credentials=False)


def statements_by_action(document: dict[str, object]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for statement in document["Statement"]:  # type: ignore[attr-defined]
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert action not in out, f"{action} granted twice"
            out[action] = statement
    return out


def test_exact_resources_and_nothing_else() -> None:
    settings = settings_for("grp_a/rec/inst1@12, grp_b/rank/inst2 grp_a/other/inst3@latest")
    document = policy_document(settings, "1234567890")
    assert document["Version"] == "1"
    by_action = statements_by_action(document)
    assert set(by_action) == {
        "opensearch:DescribeFunction",
        "oss:GetObject",
        "oss:PutObject",
        "oss:DeleteObject",
        "oss:ListObjects",
    }
    assert by_action["opensearch:DescribeFunction"]["Resource"] == [
        "acs:opensearch:cn-shanghai:1234567890:apps/grp_a",
        "acs:opensearch:cn-shanghai:1234567890:apps/grp_b",
    ]
    assert "Condition" not in by_action["opensearch:DescribeFunction"]
    for action in ("oss:GetObject", "oss:PutObject", "oss:DeleteObject"):
        assert by_action[action]["Resource"] == ["acs:oss:*:1234567890:state-bucket/team/taskwatch/*"]
        assert "Condition" not in by_action[action]
    listing = by_action["oss:ListObjects"]
    assert listing["Resource"] == ["acs:oss:*:1234567890:state-bucket"]
    assert listing["Condition"] == {"StringLike": {"oss:Prefix": ["team/taskwatch/*"]}}
    for statement in document["Statement"]:  # type: ignore[attr-defined]
        for resource in statement["Resource"]:
            assert resource not in ("*", "acs:oss:*:*:*", "acs:opensearch:*:*:*")


def test_app_groups_are_deduplicated_and_sorted() -> None:
    settings = settings_for("zeta/f/i1 alpha/f/i1 zeta/f/i2@3 zeta/g/i1 alpha/f/i1@7")
    resources = statements_by_action(policy_document(settings))["opensearch:DescribeFunction"]["Resource"]
    assert resources == [
        "acs:opensearch:cn-shanghai:*:apps/alpha",
        "acs:opensearch:cn-shanghai:*:apps/zeta",
    ]


def test_default_account_is_a_wildcard() -> None:
    document = policy_document(settings_for("g/f/i"))
    text = json.dumps(document)
    assert "acs:opensearch:cn-shanghai:*:apps/g" in text
    assert "acs:oss:*:*:state-bucket/team/taskwatch/*" in text


def test_file_state_grants_no_oss_and_says_so() -> None:
    settings = settings_for("g/f/i", state="file:///tmp/taskwatch-state")
    document = policy_document(settings, "42")
    assert [s["Action"] for s in document["Statement"]] == [["opensearch:DescribeFunction"]]
    assert "oss" not in json.dumps(document).replace("opensearch", "")
    assert any("no OSS access" in line for line in notes(settings))


def test_bucket_root_state_lists_without_condition_and_warns() -> None:
    settings = settings_for("g/f/i", state="oss://state-bucket")
    by_action = statements_by_action(policy_document(settings, "42"))
    assert by_action["oss:GetObject"]["Resource"] == ["acs:oss:*:42:state-bucket/*"]
    assert "Condition" not in by_action["oss:ListObjects"]
    assert any("whole bucket" in line for line in notes(settings))


def test_bad_account_id_is_refused() -> None:
    with pytest.raises(ValueError, match="account id"):
        policy_document(settings_for("g/f/i"), "12:role/x")


def test_trust_policy_is_fc_only_and_matches_infra_file() -> None:
    trust = trust_policy()
    assert trust["Statement"] == [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": ["fc.aliyuncs.com"]}}
    ]
    assert (INFRA / "trust-policy.json").read_text(encoding="utf-8") == dump(trust)
    assert render(settings_for("g/f/i"), trust=True) == dump(trust)


def test_lifecycle_rule_expires_claims_and_matches_infra_files() -> None:
    settings = settings_for("g/f/i", state="oss://my-bucket/taskwatch")
    rule = lifecycle_document(settings)
    assert rule["LifecycleConfiguration"]["Rule"] == [
        {
            "ID": "taskwatch-expire-claims",
            "Prefix": "taskwatch/claims/",
            "Status": "Enabled",
            "Expiration": {"Days": 7},
        }
    ]
    assert (INFRA / "bucket-lifecycle.json").read_text(encoding="utf-8") == dump(rule)
    xml = (INFRA / "bucket-lifecycle.xml").read_text(encoding="utf-8")
    for fragment in ("<Prefix>taskwatch/claims/</Prefix>", "<Days>7</Days>", "<Status>Enabled</Status>"):
        assert fragment in xml
    # what `taskwatch policy --lifecycle` prints is the file, less its comment
    assert re.sub(r"<!--.*?-->\n", "", xml, flags=re.DOTALL) == lifecycle_xml(rule)
    parsed = ElementTree.fromstring(xml.encode())  # noqa: S314 - our own file
    assert (parsed.findtext("Rule/Prefix"), parsed.findtext("Rule/Expiration/Days")) == ("taskwatch/claims/", "7")
    assert (
        lifecycle_document(settings_for("g/f/i", state="oss://b-1/x/y"), 2)["LifecycleConfiguration"]["Rule"][0][
            "Prefix"
        ]
        == "x/y/claims/"
    )
    with pytest.raises(ValueError, match="not on OSS"):
        lifecycle_document(settings_for("g/f/i", state="file://./s"))


def run_main(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """`taskwatch policy ARGV` with exactly ``env`` as its settings; (exit code, stdout, stderr)."""
    from taskwatch.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        for name in list(os.environ):
            if name.startswith(("TASKWATCH_", "DINGTALK_", "ALIBABA_CLOUD_", "ALIYUN_")):
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        code = main(["policy", *argv])
    return code, out.getvalue(), err.getvalue()


ENV = {
    "TASKWATCH_TARGETS": "g1/f/i g2/f/i@5",
    "TASKWATCH_REGION": "cn-hangzhou",
    "TASKWATCH_STATE": "oss://state-bucket/tw",
}


def test_main_prints_the_policy_for_the_current_settings() -> None:
    code, out, err = run_main(["--account-id", "1234"], ENV)
    assert code == 0 and err == ""
    assert json.loads(out) == policy_document(load_settings(ENV, require_credentials=False), "1234")
    assert out == render(load_settings(ENV, require_credentials=False), "1234")


def test_main_trust_lifecycle_and_errors() -> None:
    code, out, _ = run_main(["--trust"], {})
    assert code == 0 and json.loads(out) == trust_policy()
    code, out, _ = run_main(["--lifecycle", "--claim-days", "3", "--format", "json"], ENV)
    assert code == 0 and json.loads(out)["LifecycleConfiguration"]["Rule"][0]["Expiration"] == {"Days": 3}
    code, out, _ = run_main(["--lifecycle", "--claim-days", "3"], {"TASKWATCH_STATE": ENV["TASKWATCH_STATE"]})
    assert code == 0 and ElementTree.fromstring(out.encode()).findtext("Rule/Expiration/Days") == "3"  # noqa: S314
    code, out, err = run_main([], {"TASKWATCH_REGION": "cn-hangzhou"})
    assert code == 2 and out == "" and "TASKWATCH_TARGETS" in err
    code, out, err = run_main(["--account-id", "abc"], ENV)
    assert code == 2 and "account id" in err
    code, out, err = run_main([], {**ENV, "TASKWATCH_STATE": ""})  # CLI default: file://./.taskwatch
    assert code == 0 and "no OSS access" in err and "oss:" not in out


def test_run_is_what_cli_calls() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run(ENV, PolicyRequest(account_id="77"), out, err) == 0
    assert json.loads(out.getvalue()) == policy_document(load_settings(ENV, require_credentials=False), "77")
    out = io.StringIO()
    assert run(ENV, PolicyRequest(lifecycle=True, claim_days=5, fmt="json"), out, err) == 0
    assert json.loads(out.getvalue())["LifecycleConfiguration"]["Rule"][0]["Prefix"] == "tw/claims/"


def test_taskwatch_policy_command_prints_the_policy_of_the_current_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskwatch.cli import main as cli_main

    for name in ("TASKWATCH_OPENSEARCH_ENDPOINT", "TASKWATCH_OSS_ENDPOINT", "ALIBABA_CLOUD_REGION_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert cli_main(["policy", "--account-id", "1234"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == policy_document(load_settings(ENV, require_credentials=False), "1234")
    assert cli_main(["policy", "--trust"]) == 0
    assert json.loads(capsys.readouterr().out) == trust_policy()


def test_kms_secrets_named_by_the_config_are_granted_exactly_and_never_read(tmp_path: Path) -> None:
    config = tmp_path / "taskwatch.toml"
    config.write_text(
        '[[channel]]\nname = "a"\ntype = "dingtalk"\nurl = "${kms:robot-url}"\nsecret = "${kms:team/robot-secret}"\n'
        'keyword = "${kms:robot-url}"\n[[watch]]\ntargets = ["g1/f/i"]\n'
    )
    # A read would fail: the KMS endpoint is a closed loopback port, and there are no credentials.
    env = {**ENV, "TASKWATCH_CONFIG": f"file://{config}", "TASKWATCH_KMS_ENDPOINT": "http://127.0.0.1:9"}
    code, out, err = run_main(["--account-id", "1234"], env)
    assert code == 0, err
    kms = statements_by_action(json.loads(out))["kms:GetSecretValue"]
    assert kms == {
        "Effect": "Allow",
        "Action": ["kms:GetSecretValue"],
        "Resource": [  # each secret once, sorted, in the region of the function
            "acs:kms:cn-hangzhou:1234:secret/robot-url",
            "acs:kms:cn-hangzhou:1234:secret/team/robot-secret",
        ],
    }


def test_no_kms_statement_without_a_kms_reference(tmp_path: Path) -> None:
    config = tmp_path / "taskwatch.toml"
    config.write_text('[[watch]]\ntargets = ["g1/f/i"]\n')
    for env in (ENV, {**ENV, "TASKWATCH_CONFIG": f"file://{config}"}):
        code, out, _ = run_main([], env)
        assert code == 0 and "kms:" not in out
