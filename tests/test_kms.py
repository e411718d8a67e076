"""The KMS adapter and the config file's ${kms:Name}: the RPC request through the real aliyunsdkcore
(strict `responses` on its vendored requests, the signature checked by the emulator's independent
function), one read per instance, typed errors naming the secret and the key path, and masking."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from aliyunsdkcore.vendored.requests.exceptions import ConnectTimeout
from helpers.creds import AK_ID, AK_SECRET, PLAIN_AK_ID, STS_TOKEN, cloud_env
from helpers.env import set_env
from helpers.fakes import SDK_TARGET
from responses import matchers

from taskwatch import cli, logs, redact
from taskwatch.config import ConfigError, parse_config
from taskwatch.kms import KmsAuthFailed, KmsClient, KmsUnavailable, SecretNotFound, resolver
from taskwatch.ports import Timeouts
from taskwatch.settings import Credentials, Endpoint, load_settings
from taskwatch.wiring import LOCAL, ClientCache
from taskwatch_emulator.auth import rpc_signature, rpc_string_to_sign

HOST = "kms.cn-hangzhou.aliyuncs.com"
URL = f"https://{HOST}/"
FAST = Timeouts(opensearch_connect=0.5, opensearch_read=0.5, opensearch_backoff=0)
# A robot URL kept in KMS: its token shares no 12 characters with another test secret.
ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=kmsRobotToken7Hq2Wx9Lp4Zs"
ENV = {"TASKWATCH_REGION": "cn-hangzhou", **cloud_env()}
CONFIG = '[[channel]]\nname = "team"\ntype = "dingtalk"\nurl = "${kms:robot-url}"\n[[watch]]\ntargets = ["a/b/c"]\n'


@pytest.fixture(autouse=True)
def forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a test registers is forgotten after it (a KMS URL's pieces would mask other tests' text)."""
    monkeypatch.setattr(redact, "_secrets", dict(redact._secrets))
    monkeypatch.setattr(redact, "_index", redact._index)


@pytest.fixture
def kms() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        yield mock


def answer(value: str = ROBOT, name: str = "robot-url") -> dict[str, Any]:
    return {"SecretName": name, "SecretData": value, "SecretDataType": "text", "VersionId": "v1", "RequestId": "r"}


def client(token: str | None = STS_TOKEN) -> KmsClient:
    creds = Credentials(AK_ID if token else PLAIN_AK_ID, AK_SECRET, token)
    return KmsClient(creds, "cn-hangzhou", Endpoint("https", HOST), FAST, sleep=lambda _: None)


def sent_params(mock: responses.RequestsMock, index: int = 0) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(mock.calls[index].request.url).query, keep_blank_values=True))


def test_get_secret_value_is_a_signed_rpc_post_with_the_sts_token(kms: responses.RequestsMock) -> None:
    wanted = {"Action": "GetSecretValue", "Version": "2016-01-20", "SecretName": "robot-url"}
    kms.post(
        URL,
        json=answer(),
        match=[matchers.query_param_matcher({**wanted, "SecurityToken": STS_TOKEN}, strict_match=False)],
    )
    assert client().get_secret_value("robot-url") == ROBOT
    params = sent_params(kms)
    assert (params["AccessKeyId"], params["SignatureMethod"], params["SignatureVersion"]) == (AK_ID, "HMAC-SHA1", "1.0")
    assert kms.calls[0].request.method == "POST" and kms.calls[0].request.url.startswith(URL)
    # The emulator's own function (written from the published rule, not from the SDK) agrees.
    assert rpc_signature(AK_SECRET, rpc_string_to_sign("POST", params)) == params["Signature"]
    assert rpc_signature(AK_SECRET + "x", rpc_string_to_sign("POST", params)) != params["Signature"]


def test_a_plain_key_sends_no_token_and_names_are_encoded_as_kms_expects(kms: responses.RequestsMock) -> None:
    kms.post(URL, json=answer("v" * 20, "team/robot.url:prod"))
    assert client(token=None).get_secret_value("team/robot.url:prod") == "v" * 20
    params = sent_params(kms)
    assert "SecurityToken" not in params and params["SecretName"] == "team/robot.url:prod"
    assert rpc_signature(AK_SECRET, rpc_string_to_sign("POST", params)) == params["Signature"]
    with pytest.raises(SecretNotFound, match="is not a KMS secret name"):
        client().get_secret_value("robot url")  # refused before any request


def test_a_loopback_http_endpoint_is_called_over_http(kms: responses.RequestsMock) -> None:
    kms.post("http://127.0.0.1:9/", json=answer())
    creds = Credentials(AK_ID, AK_SECRET, STS_TOKEN)
    assert KmsClient(creds, "cn-hangzhou", Endpoint("http", "127.0.0.1:9"), FAST).get_secret_value("robot-url")


def test_a_secret_is_read_once_per_instance(kms: responses.RequestsMock) -> None:
    kms.post(URL, json=answer())
    cache = ClientCache()
    assert resolver(ENV, None, cache, FAST)("robot-url", "channel[0].url") == ROBOT
    # The next tick builds a new resolver over the same instance's cache, with rotated credentials.
    rotated = {**ENV, **cloud_env(secret="rotated-secret-0000", token="rotated-token-0000")}
    assert resolver(rotated, None, cache, FAST)("robot-url", "watch[0].targets[0]") == ROBOT
    assert len(kms.calls) == 1
    assert resolver(ENV, None, ClientCache(), FAST)("robot-url", "channel[0].url") == ROBOT  # a new instance
    assert len(kms.calls) == 2


def test_a_config_without_kms_references_builds_no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    monkeypatch.setattr("taskwatch.kms.KmsClient", lambda *a, **k: built.append(a))
    config = parse_config(b'[[watch]]\ntargets = ["a/b/c"]', "t.toml", ENV, resolver(ENV, None, ClientCache(), FAST))
    assert config.kms == () and built == []


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (404, {"Code": "Forbidden.ResourceNotFound", "Message": "not found"}, SecretNotFound, "does not exist in KMS"),
        (403, {"Code": "Forbidden.NoPermission", "Message": "denied"}, KmsAuthFailed, "needs kms:GetSecretValue"),
        (
            400,
            {"Code": "SignatureDoesNotMatch", "Message": f"no match. server string to sign is:POST&%2F&{STS_TOKEN}"},
            KmsAuthFailed,
            "SignatureDoesNotMatch: no match.",
        ),
        (503, {"Code": "ServiceUnavailable", "Message": "busy"}, KmsUnavailable, "the next tick tries again"),
        (200, {"Code": "Throttling.User", "Message": "slow down"}, KmsUnavailable, "Throttling.User"),
    ],
)
def test_errors_are_typed_and_name_the_secret_and_the_key_path(
    kms: responses.RequestsMock, status: int, body: dict[str, str], error: type[Exception], words: str
) -> None:
    for _ in range(2 if error is KmsUnavailable else 1):  # a transient failure is retried once
        kms.post(URL, json={"RequestId": "r", **body}, status=status)
    with pytest.raises(error) as raised:
        client().get_secret_value("robot-url")
    assert words in str(raised.value) and "robot-url" in str(raised.value)
    assert STS_TOKEN not in str(raised.value)  # the echoed string to sign is cut

    for _ in range(2 if error is KmsUnavailable else 1):
        kms.post(URL, json={"RequestId": "r", **body}, status=status)
    with pytest.raises(ConfigError) as config_error:
        parse_config(CONFIG.encode(), "t.toml", ENV, resolver(ENV, None, ClientCache(), FAST))
    message = str(config_error.value)
    assert message.startswith("TASKWATCH_CONFIG channel[0].url: ${kms:robot-url}: ") and words in message


def test_a_timeout_is_transient_and_nothing_is_cached(kms: responses.RequestsMock) -> None:
    kms.post(URL, body=ConnectTimeout("slow"))
    kms.post(URL, body=ConnectTimeout("slow"))
    cache = ClientCache()
    with pytest.raises(ConfigError, match=r"channel\[0\]\.url: \$\{kms:robot-url\}: KMS could not be read"):
        parse_config(CONFIG.encode(), "t.toml", ENV, resolver(ENV, None, cache, FAST))
    kms.post(URL, json=answer())
    config = parse_config(CONFIG.encode(), "t.toml", ENV, resolver(ENV, None, cache, FAST))
    assert config.channels[0].url == ROBOT and len(kms.calls) == 3


def test_without_credentials_or_region_the_error_says_so() -> None:
    no_credentials = resolver({"TASKWATCH_REGION": "cn-hangzhou"}, None, ClientCache(), FAST)
    with pytest.raises(ConfigError, match=r"channel\[0\]\.url: \$\{kms:robot-url\}: reading it needs credentials"):
        parse_config(CONFIG.encode(), "t.toml", {}, no_credentials)
    with pytest.raises(ConfigError, match="needs a region"):
        parse_config(CONFIG.encode(), "t.toml", {}, resolver(cloud_env(), None, ClientCache(), FAST))


def test_a_kms_value_never_appears_in_an_error_or_a_log_line(kms: responses.RequestsMock) -> None:
    bad = "http://10.0.0.8/robot/send?access_token=kmsPlainHttp3Rt5Yu7Io9"
    kms.post(URL, json=answer(bad))
    config = parse_config(CONFIG.encode(), "t.toml", ENV, resolver(ENV, None, ClientCache(), FAST))
    with pytest.raises(ConfigError) as raised:
        load_settings(ENV, config=config, require_credentials=False)  # the URL is refused: not https
    message = str(raised.value)
    assert "channel[0].url" in message and "must be https://" in message
    assert not any(bad[i : i + 12] in message for i in range(len(bad) - 11)), message
    stream = io.StringIO()
    logs.setup(stream)
    try:
        logs.event("echo", logging.WARNING, cause=f"a library echoed {bad} and {json.dumps(bad)}")
    finally:
        logs.setup(None)
    assert "kmsPlainHttp3Rt5Yu7Io9" not in stream.getvalue() and "10.0.0.8/robot" not in stream.getvalue()


def test_taskwatch_config_reads_and_masks_and_check_reads_nothing(
    kms: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(LOCAL.clients, "_entries", {})  # a fresh instance for this test
    config = tmp_path / "taskwatch.toml"
    config.write_text(CONFIG)
    set_env(monkeypatch, TASKWATCH_CONFIG=f"file://{config}", **ENV)
    kms.post(URL, json=answer())
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert "webhook = ***  (kms:robot-url)" in out and "channel[0].url = ***  (kms:robot-url)" in out
    assert "read once per instance" in out
    assert "kmsRobotToken7Hq2Wx9Lp4Zs" not in out and "oapi.dingtalk.com" not in out

    assert cli.main(["config", "--check", str(config)]) == 0  # no request: the mock would refuse one
    out = capsys.readouterr().out
    assert "valid: 1 target(s)" in out and "not read offline: robot-url (channel[0].url)" in out
    assert len(kms.calls) == 1


def test_taskwatch_config_without_credentials_shows_the_reference_unread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "taskwatch.toml"
    config.write_text(CONFIG)
    set_env(monkeypatch, TASKWATCH_CONFIG=f"file://{config}", TASKWATCH_REGION="cn-hangzhou")
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert "webhook = ***  (kms, not read)" in out and "not read here" in out and "kms.invalid" not in out


def test_config_check_names_a_bad_reference_and_leaves_kms_values_to_the_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "taskwatch.toml"
    config.write_text(CONFIG.replace("robot-url", "robot url"))
    assert cli.main(["config", "--check", str(config)]) == 2
    assert "channel[0].url: '${kms:robot url}': a secret name is" in capsys.readouterr().err
    # A mention kept in KMS cannot be checked offline: said so, not refused.
    config.write_text(CONFIG.replace('type = "dingtalk"', 'type = "dingtalk"\nmention = ["${kms:oncall}"]'))
    assert cli.main(["config", "--check", str(config)]) == 0
    out = capsys.readouterr().out
    assert "channel[0].mention[0] holds ${kms:oncall}: checked when the function reads it" in out


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**answer(), "SecretDataType": "binary"}, "holds binary data; store the value as text"),
        ({**answer(), "SecretData": "  "}, "has no text"),
    ],
)
def test_an_answer_without_usable_text_is_refused_and_not_kept(
    kms: responses.RequestsMock, body: dict[str, str], words: str
) -> None:
    kms.post(URL, json=body)
    kms.post(URL, json=answer())
    cache = ClientCache()
    with pytest.raises(ConfigError, match=words):
        resolver(ENV, None, cache, FAST)("robot-url", "channel[0].url")
    assert resolver(ENV, None, cache, FAST)("robot-url", "channel[0].url") == ROBOT  # asked again
