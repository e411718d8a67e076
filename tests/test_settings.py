from __future__ import annotations

import pytest
from helpers.creds import AK_SECRET, PLAIN_AK_ID, Credentials, cloud_env
from helpers.fc import Context

from taskwatch.settings import Endpoint, SettingsError, Target, load_settings, parse_targets

BASE = {
    "TASKWATCH_TARGETS": "app/fn/inst",
    "TASKWATCH_REGION": "cn-hangzhou",
    **cloud_env(PLAIN_AK_ID, token=None),
}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.targets == (Target("app", "fn", "inst", None),)
    assert settings.opensearch_endpoint == Endpoint("https", "opensearch.cn-hangzhou.aliyuncs.com")
    assert settings.state.describe() == "file://./.taskwatch"
    assert (settings.progress_step, settings.stall_minutes, settings.error_ticks) == (25, 60, 3)
    assert [(c.name, c.type) for c in settings.channels] == [("console", "console")]
    assert settings.oss_endpoint is None and not settings.oss_internal


def test_targets_syntax() -> None:
    targets = parse_targets("a/b/c@12, a/b/d@latest\n x.y/f-n/i_1  a/b/c@12")
    assert [t.key for t in targets] == ["a/b/c@12", "a/b/d@latest", "x.y/f-n/i_1@latest"]
    assert targets[0].generation == "12" and targets[1].generation is None


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("a/b", "'a/b' is not appGroup/function/instance"),
        ("a/b/c/d", "'a/b/c/d' is not"),
        ("a/b/c@v2", "generation 'v2' must be a number or 'latest'"),
        ("a/b%2F/c", "name 'b%2F' may use only"),
        ("a/../c", "name '..'"),
        ("a/b/c?x=1", "name 'c?x=1'"),
        (" , ", "is empty"),
    ],
)
def test_bad_targets_name_the_variable_and_value(raw: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({**BASE, "TASKWATCH_TARGETS": raw})
    assert err.value.variable == "TASKWATCH_TARGETS"
    assert str(err.value).startswith("TASKWATCH_TARGETS: ") and fragment in str(err.value)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("TASKWATCH_PROGRESS_STEP", "abc", "'abc' is not a number"),
        ("TASKWATCH_PROGRESS_STEP", "101", "between 0 and 100"),
        ("TASKWATCH_STALL_MINUTES", "-1", "'-1' must be between"),
        ("TASKWATCH_STALL_MINUTES", "nan", "'nan' must be between"),
        ("TASKWATCH_ERROR_TICKS", "0", "'0' must be a whole number from 1"),
        ("TASKWATCH_ERROR_TICKS", "2.5", "'2.5' must be a whole number"),
        ("TASKWATCH_CONCURRENCY", "1000", "from 1 to 64"),
        ("TASKWATCH_REGION", "Hangzhou", "'Hangzhou' is not a region id"),
        ("TASKWATCH_OPENSEARCH_ENDPOINT", "ftp://x", "'ftp://x' is not a host"),
        ("TASKWATCH_OSS_ENDPOINT", "http://a b", "is not a host"),
        ("TASKWATCH_STATE", "s3://bucket/x", "must start with oss:// or file://"),
        ("TASKWATCH_STATE", "oss://B_ad/x", "bucket name 'B_ad'"),
        ("DINGTALK_AT_MOBILES", "138000,abc", "'abc' is not a mobile number"),
    ],
)
def test_bad_values_name_the_variable_and_value(name: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({**BASE, name: value})
    assert err.value.variable == name and fragment in str(err.value)


def test_secrets_are_masked_in_errors() -> None:
    url = "https://oapi.dingtalk.com/robot/sendx?foo=1&access_token="  # no token value
    with pytest.raises(SettingsError, match="has no access_token"):
        load_settings({**BASE, "DINGTALK_WEBHOOK": url})
    with pytest.raises(SettingsError) as err:
        load_settings({**BASE, "DINGTALK_WEBHOOK": "ftp://oapi.dingtalk.com/robot/send?access_token=sekrit-token"})
    assert "sekrit-token" not in str(err.value) and "access_token=***" in str(err.value)
    with pytest.raises(SettingsError) as err:
        load_settings({**BASE, "TASKWATCH_HTTP_TOKEN": "guessable1"})
    assert "guessable1" not in str(err.value) and "too short" in str(err.value)


def test_fc_requires_state_and_uses_internal_oss() -> None:
    with pytest.raises(SettingsError, match="TASKWATCH_STATE: is required in Function Compute"):
        load_settings(BASE, in_fc=True)
    settings = load_settings({**BASE, "TASKWATCH_STATE": "oss://my-bucket/tw/"}, in_fc=True)
    assert settings.oss_internal and settings.state.prefix == "tw/" and settings.state.bucket == "my-bucket"


def test_region_falls_back_to_alibaba_cloud_region_then_fc_context() -> None:
    env = {k: v for k, v in BASE.items() if k != "TASKWATCH_REGION"}
    assert load_settings({**env, "ALIBABA_CLOUD_REGION_ID": "cn-beijing"}).region == "cn-beijing"
    assert load_settings(env, Context(region="cn-shanghai")).region == "cn-shanghai"
    with pytest.raises(SettingsError, match="TASKWATCH_REGION"):
        load_settings(env)


def test_credentials_from_context_first_then_env() -> None:
    ctx = Context(credentials=Credentials(access_key_id="STS.ctx", access_key_secret="s", security_token="t"))
    creds = load_settings(BASE, ctx).credentials
    assert creds is not None and (creds.access_key_id, creds.security_token) == ("STS.ctx", "t")
    creds = load_settings(BASE, Context()).credentials
    assert creds is not None and creds.access_key_id == PLAIN_AK_ID and creds.security_token is None
    assert AK_SECRET not in repr(load_settings(BASE))


def test_credential_problems() -> None:
    with pytest.raises(SettingsError, match="ALIBABA_CLOUD_SECURITY_TOKEN: is missing for the STS key"):
        load_settings({**BASE, "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.abc"})
    with pytest.raises(SettingsError, match="ALIBABA_CLOUD_ACCESS_KEY_SECRET: is missing"):
        load_settings({**BASE, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""})
    no_keys = {k: v for k, v in BASE.items() if not k.startswith("ALIBABA")}
    with pytest.raises(SettingsError, match="no credentials"):
        load_settings({**no_keys, "ALIYUN_ACCESS_KEY_ID": "x", "ALIYUN_ACCESS_KEY_SECRET": "y"})


def test_endpoints() -> None:
    settings = load_settings(
        {**BASE, "TASKWATCH_OPENSEARCH_ENDPOINT": "http://127.0.0.1:8080/", "TASKWATCH_OSS_ENDPOINT": "localhost:9"}
    )
    assert settings.opensearch_endpoint == Endpoint("http", "127.0.0.1:8080")
    assert settings.oss_endpoint == Endpoint("https", "localhost:9") and settings.oss_endpoint.is_local
    assert not Endpoint("https", "oss-cn-hangzhou.aliyuncs.com").is_local


@pytest.mark.parametrize("variable", ["TASKWATCH_OPENSEARCH_ENDPOINT", "TASKWATCH_OSS_ENDPOINT"])
@pytest.mark.parametrize("value", ["http://127.0.0.1:99999", "localhost:0", "https://[::1]:70000", "h.example:65536"])
def test_endpoint_ports_outside_1_to_65535_name_the_variable_and_value(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as failure:
        load_settings({**BASE, variable: value})
    assert failure.value.variable == variable
    assert str(failure.value).startswith(f"{variable}: {value!r}: port ") and "1 to 65535" in str(failure.value)


def test_endpoint_ports_in_range_are_kept() -> None:
    for value, host in [("h.example:1", "h.example:1"), ("http://[::1]:65535", "[::1]:65535"), ("[::1]", "[::1]")]:
        assert load_settings({**BASE, "TASKWATCH_OSS_ENDPOINT": value}).oss_endpoint.host == host  # type: ignore[union-attr]


def test_a_status_of_file_state_needs_no_region() -> None:
    no_region = {k: v for k, v in BASE.items() if k != "TASKWATCH_REGION"}
    for state in ({}, {"TASKWATCH_STATE": "file:///tmp/tw"}):
        settings = load_settings({**no_region, **state}, require_credentials=False, need_region=False)
        assert settings.region == "" and settings.state.scheme == "file"
    with pytest.raises(SettingsError, match="TASKWATCH_REGION: is required"):  # OSS state: the region matters
        load_settings({**no_region, "TASKWATCH_STATE": "oss://bkt/tw"}, need_region=False)
    with pytest.raises(SettingsError, match="TASKWATCH_REGION: is required"):  # a tick reads tasks
        load_settings({**no_region, "TASKWATCH_STATE": "file:///tmp/tw"})
    with pytest.raises(SettingsError, match="TASKWATCH_REGION: 'Hangzhou' is not a region id"):
        load_settings({**BASE, "TASKWATCH_REGION": "Hangzhou"}, need_region=False)


@pytest.mark.parametrize("variable", ["DINGTALK_SECRET", "DINGTALK_AT_MOBILES", "DINGTALK_KEYWORD"])
def test_a_robot_setting_without_its_webhook_is_refused_not_ignored(variable: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({**BASE, variable: "13800000000"})
    assert err.value.variable == variable and "DINGTALK_WEBHOOK is not" in str(err.value)


@pytest.mark.parametrize(
    ("variable", "value"), [("TASKWATCH_TIMEZONE", "Mars/Base"), ("TASKWATCH_QUIET_HOURS", "25:00-08:00")]
)
def test_a_bad_value_is_named_before_a_missing_region_or_key(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"TASKWATCH_TARGETS": "a/b/c", variable: value})
    assert err.value.variable == variable and repr(value) in str(err.value)
