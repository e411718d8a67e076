"""The config file: its schema errors (key path and bad value named, secrets masked), the limits
on hostile files, precedence over the environment, and how each entry point stops on a bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import AK_ID, AK_SECRET, STS_TOKEN, Context, set_env

import index
from taskwatch import cli
from taskwatch.config import ConfigError, parse_config
from taskwatch.settings import SettingsError, load_settings

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=cfg-token-0123456789"
ENV = {"TASKWATCH_REGION": "cn-hangzhou", "DINGTALK_WEBHOOK": WEBHOOK}
GOOD = """
progress_step = 10
stall_minutes = 30.5
discover_minutes = 15

[[channel]]
name = "search-team"
type = "dingtalk"
url = "${env:DINGTALK_WEBHOOK}"
mention = ["13800000000"]
kinds = ["status:failed", "stalled"]

[[watch]]
targets = ["shop/ctr/*", "shop/pop/prod@latest", "shop/*"]
channels = ["search-team"]
"""


def parse(text: str | bytes, env: dict[str, str] | None = None) -> str:
    """The error message a config gives (parsed and turned into settings)."""
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(SettingsError) as err:
        load_settings(env or ENV, config=parse_config(data, "t.toml", env or ENV), require_credentials=False)
    return str(err.value)


def test_a_good_file_sets_targets_values_and_the_channel() -> None:
    settings = load_settings(
        {**ENV, "TASKWATCH_STALL_MINUTES": "45", "TASKWATCH_TARGETS": "shop/pop/prod, a/b/c"},
        config=parse_config(GOOD.encode(), "t.toml", ENV),
        require_credentials=False,
    )
    assert [t.key for t in settings.targets] == ["shop/ctr/*", "shop/pop/prod@latest", "shop/*", "a/b/c@latest"]
    assert (settings.progress_step, settings.stall_minutes, settings.discover_minutes) == (10, 45, 15)
    assert settings.origins["progress_step"] == "file" and settings.origins["stall_minutes"] == "environment"
    assert settings.origins["error_ticks"] == "default" and settings.origins["channels"] == "file"
    (channel,) = settings.channels
    assert (channel.name, channel.type, channel.kinds) == ("search-team", "dingtalk", ("status:failed", "stalled"))
    assert channel.options.webhook == WEBHOOK and channel.options.mobiles == ("13800000000",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = ", "TASKWATCH_CONFIG: t.toml is not TOML"),
        (b"\xff\xfeprogress_step = 1", "t.toml is not UTF-8"),
        ('[[watch]]\ntargets = ["a/b/c"]\nchanels = ["x"]', "watch[0].chanels: unknown key (did you mean 'channels'?)"),
        ("progres_step = 3", "progres_step: unknown key (did you mean 'progress_step'?)"),
        ('progress_step = "5"', "progress_step: must be a number, not '5'"),
        ("progress_step = 500", "progress_step: 500 must be between 0 and 100"),
        ("error_ticks = 2.5", "error_ticks: 2.5 must be a whole number from 1 to 1000"),
        ("stall_minutes = nan", "stall_minutes: nan must be between"),
        ('timezone = "Mars/Base"', "timezone: 'Mars/Base' is not a time zone"),
        ('quiet_hours = "23:00-25:00"', "quiet_hours: '23:00-25:00' is not a window like 23:00-08:00"),
        ('[[watch]]\ntargets = ["a/b/c"]\n[[watch]]\ntargets = "a/b/c"', "watch[1].targets: must be a non-empty list"),
        ('[[watch]]\ntargets = ["a/b/c", "bad name/x/y"]', "watch[0].targets[1]: 'bad name/x/y'"),
        ('[[watch]]\ntargets = ["a/b/*@7"]', "watch[0].targets[0]: 'a/b/*@7': generation '7' must be 'latest'"),
        (
            '[[channel]]\nname = "a"\ntype = "dingtalk"\nurl = "https://h/x?access_token=t1"\n'
            '[[channel]]\nname = "a"\ntype = "dingtalk"',
            "channel[1].name: 'a' is already the name of channel[0]",
        ),
        ('[[channel]]\nname = "A B"\ntype = "dingtalk"', "channel[0].name: 'A B' must be 1 to 32"),
        ('[[channel]]\nname = "a"\ntype = "dingtlak"', "channel[0].type: 'dingtlak' is not one of"),
        ('[[watch]]\ntargets = ["a/b/c"]\nchannels = ["nope"]', "watch[0].channels[0]: 'nope' is not a channel"),
        ('[[watch]]\ntargets = ["a/b/c"]\nkinds = ["stalld"]', "watch[0].kinds[0]: 'stalld' is not a change kind"),
        (
            '[[channel]]\nname = "a"\ntype = "dingtalk"\nurl = "${env:ROBOT_URL}"',
            "channel[0].url: ${env:ROBOT_URL}: the variable ROBOT_URL is not set",
        ),
        (
            '[[channel]]\nname = "a"\ntype = "dingtalk"\nurl = "http://10.0.0.8/robot/send?access_token=SECRETTOKEN1"'
            '\n[[watch]]\ntargets = ["a/b/c"]',
            "channel[0].url: 'http://10.0.0.8/robot/send?access_token=***' must be https://",
        ),
        ("a = " + "[" * 100_000 + "]" * 100_000, "is nested too deep"),
        (
            '[[channel]]\nname = "a"\ntype = "dingtalk"\nurl = "${kms:robot-url}"',
            "channel[0].url: ${kms:robot-url}: KMS cannot be reached offline",
        ),
        (
            '[[channel]]\nname = "a"\ntype = "dingtalk"\nurl = "${kms:robot url}"',
            "channel[0].url: '${kms:robot url}': a secret name is 1 to 192 of letters, digits",
        ),
        ('discover_functions = ["ctr", "a/b"]', "discover_functions[1]: 'a/b' may use only letters"),
        (
            '[[watch]]\ntargets = ["${vault:x}"]',
            "watch[0].targets[0]: '${vault:x}': only ${env:NAME} and ${kms:SecretName}",
        ),
        ("progress_step = 1\n" + "#" * 10_000_000, "t.toml is 10,000,018 bytes; at most 2,000,000"),
    ],
)
def test_every_error_names_the_key_path_and_the_bad_value(text: str | bytes, expected: str) -> None:
    message = parse(text)
    assert message.startswith("TASKWATCH_CONFIG") and expected in message, message
    assert "SECRETTOKEN1" not in message


def test_a_hundred_thousand_targets_is_a_clear_limit() -> None:
    text = "[[watch]]\ntargets = [" + ",".join(f'"a/b/{n}"' for n in range(100_000)) + "]"
    assert len(text) < 2_000_000  # under the size limit: the count is what refuses it
    with pytest.raises(ConfigError, match="lists 100,000 targets; at most 10,000 in one function"):
        parse_config(text.encode(), "t.toml", ENV)


def test_the_example_beside_the_code_is_valid(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    example = Path(__file__).resolve().parents[1] / "handler" / "taskwatch.example.toml"
    set_env(monkeypatch, DINGTALK_WEBHOOK=WEBHOOK, DINGTALK_SECRET="SECexample-secret-0123")
    assert cli.main(["config", "--check", str(example)]) == 0
    assert "valid: 3 target(s) (2 wildcard(s)), 2 channel(s), 2 [[watch]]" in capsys.readouterr().out


def test_the_example_is_valid_where_its_variables_are_not_set(capsys: pytest.CaptureFixture[str]) -> None:
    # Checked where it is written: the variables are set where the function runs.
    example = Path(__file__).resolve().parents[1] / "handler" / "taskwatch.example.toml"
    assert cli.main(["config", "--check", str(example)]) == 0
    out = capsys.readouterr().out
    assert "valid: 3 target(s)" in out and "DINGTALK_WEBHOOK (channel[0].url)" in out, out


def test_a_check_still_refuses_a_bad_value_beside_an_unset_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[channel]]\nname = "x"\ntype = "dingtalk"\nurl = "${env:NOT_SET_HERE}"\n'
        'mention = ["not-a-mobile"]\n[[watch]]\ntargets = ["a/b/c"]\n'
    )
    assert cli.main(["config", "--check", str(bad)]) == 2
    assert "channel[0].mention[0]" in capsys.readouterr().err


def test_config_check_exits_2_naming_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[watch]]\ntargets = ["a/b/c"]\nchanels = []\n')
    assert cli.main(["config", "--check", str(bad)]) == 2
    assert "watch[0].chanels: unknown key (did you mean 'channels'?)" in capsys.readouterr().err
    assert cli.main(["config", "--check", str(tmp_path / "missing.toml")]) == 2


def test_config_prints_where_each_value_came_from_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "taskwatch.toml"
    config.write_text(GOOD)
    set_env(monkeypatch, TASKWATCH_CONFIG=f"file://{config}", TASKWATCH_STALL_MINUTES="45", **ENV)
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert "progress_step = 10.0  (file)" in out and "stall_minutes = 45.0  (environment)" in out
    assert "error_ticks = 3  (default)" in out and "channel search-team (dingtalk, file)" in out
    assert "cfg-token-0123456789" not in out and "access_token=***" in out


def _timer_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> Path:
    config = tmp_path / "taskwatch.toml"
    config.write_text(text)
    state = tmp_path / "state"
    set_env(
        monkeypatch,
        TASKWATCH_CONFIG=f"file://{config}",
        TASKWATCH_STATE=f"file://{state}",
        TASKWATCH_REGION="cn-hangzhou",
        ALIBABA_CLOUD_ACCESS_KEY_ID=AK_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=AK_SECRET,
        ALIBABA_CLOUD_SECURITY_TOKEN=STS_TOKEN,
    )
    return state


def test_an_invalid_config_stops_every_entry_point_before_any_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _timer_env(monkeypatch, tmp_path, '[[watch]]\ntargets = ["a/b/c"]\nchanels = []\n')
    # Any request would fail: the endpoint is a closed loopback port.
    monkeypatch.setenv("TASKWATCH_OPENSEARCH_ENDPOINT", "http://127.0.0.1:9")
    event = json.dumps({"triggerTime": "2026-12-02T00:00:00Z", "triggerName": "timer", "payload": ""}).encode()
    with pytest.raises(SettingsError):
        index.handler(event, Context())
    log = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    (bad,) = [line for line in log if line["event"] == "bad_settings"]
    assert bad["cause"] == "TASKWATCH_CONFIG watch[0].chanels: unknown key (did you mean 'channels'?)"

    assert cli.main(["check"]) == 2
    assert "watch[0].chanels: unknown key" in capsys.readouterr().err

    monkeypatch.setenv("TASKWATCH_HTTP_TOKEN", "config-http-token-0123456789")
    request = {
        "version": "v1",
        "rawPath": "/check",
        "headers": {"Authorization": "Bearer config-http-token-0123456789"},
        "queryParameters": {},
        "body": "",
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": "POST", "path": "/check"}, "requestId": "r1"},
    }
    answer = index.handler(json.dumps(request).encode(), Context())
    assert answer["statusCode"] == 500 and "watch[0].chanels: unknown key" in answer["body"]
    assert not state.exists()  # nothing written anywhere


def test_an_unreadable_config_fails_the_tick_naming_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _timer_env(monkeypatch, tmp_path, "")
    monkeypatch.setenv("TASKWATCH_CONFIG", "missing/taskwatch.toml")  # relative to the code directory
    event = json.dumps({"triggerTime": "2026-12-02T00:00:00Z", "triggerName": "timer", "payload": ""}).encode()
    with pytest.raises(SettingsError, match=r"TASKWATCH_CONFIG: cannot read .*handler/missing/taskwatch.toml"):
        index.handler(event, Context())


def test_the_policy_covers_the_wildcards_app_groups_and_reads_only_the_config_object() -> None:
    from taskwatch.policy import policy_document

    text = b'[[watch]]\ntargets = ["shop/ctr/*", "books/*", "music/pop/prod"]'
    settings = load_settings(
        {"TASKWATCH_REGION": "cn-hangzhou", "TASKWATCH_STATE": "oss://tw-state/taskwatch"},
        config=parse_config(text, "oss://tw-config/team/taskwatch.toml", {}),
        require_credentials=False,
    )
    statements = policy_document(settings, "123456")["Statement"]
    assert statements[0]["Resource"] == [
        f"acs:opensearch:cn-hangzhou:123456:apps/{group}" for group in ("books", "music", "shop")
    ]
    assert statements[-1] == {
        "Effect": "Allow",
        "Action": ["oss:GetObject"],
        "Resource": ["acs:oss:*:123456:tw-config/team/taskwatch.toml"],
    }
    assert len(statements) == 4  # OpenSearch, the state's objects, listing the state, the config
