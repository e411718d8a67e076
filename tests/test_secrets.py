"""Secrets masked in every form they can take, wherever text leaves the process."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from urllib.parse import quote, quote_plus

import pytest
import responses
from helpers.creds import PLAIN_AK_ID, STS_TOKEN, cloud_env
from helpers.env import set_env
from helpers.fakes import BUCKET, WEBHOOK, FakeCloud, fake_cloud, task
from helpers.fc import TIMER_EVENT, Context

import index
from taskwatch import logs
from taskwatch.digest import Message
from taskwatch.http_event import Answer
from taskwatch.notifiers import dingtalk
from taskwatch.ports import DEFAULT_TIMEOUTS
from taskwatch.redact import mask_url, register_secrets, scrub, url_secrets
from taskwatch.settings import SettingsError, load_settings

LONG_TOKEN = "CAIS" + "x7Gq2LmN9pQrS4tUvW" * 40 + "AA=="  # an STS token is about 1,000 characters
QUOTED = 'se"cr\\et-with-quotes-0123'


@pytest.fixture(autouse=True)
def registered() -> None:
    register_secrets([LONG_TOKEN, QUOTED])


@pytest.mark.parametrize(
    "form",
    [
        LONG_TOKEN,
        json.dumps(LONG_TOKEN)[1:-1],
        quote(LONG_TOKEN, safe=""),
        quote_plus(LONG_TOKEN),
        LONG_TOKEN[:200],  # cut by an error message
        LONG_TOKEN[37:61],  # any 24 characters of it
        json.dumps(QUOTED)[1:-1],
        quote(QUOTED, safe=""),
        QUOTED,
    ],
)
def test_every_form_of_a_secret_is_masked(form: str) -> None:
    text = scrub(f"denied for credential {form} (request r-1)")
    assert form not in text and "denied for credential" in text and "(request r-1)" in text
    for i in range(len(LONG_TOKEN) - 12):
        assert LONG_TOKEN[i : i + 12] not in text


def test_text_without_secrets_is_untouched() -> None:
    text = "running → **success**, recall=91, " + "ordinary words " * 50
    assert scrub(text) == text


def test_a_long_digest_is_scrubbed_quickly() -> None:
    import time

    text = ("block of a digest with progress ██████░░░░ 60% " * 400)[:20_000] + LONG_TOKEN[100:400]
    started = time.perf_counter()
    out = scrub(text)
    assert LONG_TOKEN[100:400] not in out and time.perf_counter() - started < 0.5


def test_log_lines_mask_secrets_holding_quotes_and_backslashes() -> None:
    stream = io.StringIO()
    logs.setup(stream)
    try:
        logs.event("read_failed", logging.WARNING, cause=f"echoed {QUOTED} and {LONG_TOKEN[:80]}")
    finally:
        logs.setup(None)
    line = stream.getvalue()
    assert json.loads(line)["event"] == "read_failed"
    assert json.dumps(QUOTED)[1:-1] not in line and QUOTED not in line and LONG_TOKEN[:80] not in line


def test_http_answers_mask_secrets_before_and_after_encoding() -> None:
    answer = Answer(502, {"error": f"delivery failed: {QUOTED}", "changes": [{"detail": LONG_TOKEN[5:300]}]})
    body = answer.to_fc()["body"]
    assert json.dumps(QUOTED)[1:-1] not in body and LONG_TOKEN[5:300] not in body
    assert json.loads(body)["error"].startswith("delivery failed: ")


def test_the_chat_never_gets_a_registered_secret() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post("https://oapi.dingtalk.com/robot/send", json={"errcode": 0, "errmsg": "ok"})
        message = Message(f"taskwatch {QUOTED}", f"- cannot read: auth: Forbidden.RAM: denied for {LONG_TOKEN}", ())
        options = dingtalk.Options("https://oapi.dingtalk.com/robot/send?access_token=tok123456")
        dingtalk.build(options, DEFAULT_TIMEOUTS).send(message)
        body = mock.calls[0].request.body
    sent = body.decode() if isinstance(body, bytes) else str(body)
    text = json.loads(sent)["markdown"]
    assert LONG_TOKEN[:12] not in sent and QUOTED not in text["title"] and "Forbidden.RAM" in text["text"]


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        ("https://user:p4ssw0rd-very-secret@hooks.example.com/x?a=1", "p4ssw0rd-very-secret"),
        ("https://oapi.dingtalk.com/robot/send?access_token=ab'cd ef&x=1", "ab'cd ef"),
        ("https://oapi.dingtalk.com/robot/send?x=1&access_token=abc%27def#frag", "abc%27def"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx", "693a91f6-7xxx"),
        ("https://bot:pa ss@w'ord-0123@hooks.example.com/x", "pa ss@w'ord-0123"),
        ("https://hooks.example.com/x?client_secret=s3cr3t value&api_key=k3y'v4lue", "k3y'v4lue"),
        ("https://hooks.example.com/x?client_secret=s3cr3t value&api_key=k3y'v4lue", "s3cr3t value"),
    ],
)
def test_mask_url_hides_passwords_and_whole_parameter_values(url: str, hidden: str) -> None:
    assert hidden not in mask_url(url)
    assert hidden in url_secrets(url)


@pytest.mark.parametrize(
    ("webhook", "hidden"),
    [
        ("https://user:hunter2-secret@oapi.dingtalk.com/robot/send", "hunter2-secret"),
        ("ftp://oapi.dingtalk.com/robot/send?access_token=tok'en with space", "en with space"),
        ("http://oapi.dingtalk.com/robot/send?access_token=plaintext-token", "plaintext-token"),
        ("https://[::1/robot/send?access_token=unclosed-bracket-token", "unclosed-bracket-token"),
    ],
)
def test_settings_errors_never_show_a_webhook_secret(webhook: str, hidden: str) -> None:
    env = {
        "TASKWATCH_TARGETS": "a/b/c",
        "TASKWATCH_REGION": "cn-hangzhou",
        "DINGTALK_WEBHOOK": webhook,
        **cloud_env(PLAIN_AK_ID, token=None),
    }
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert err.value.variable == "DINGTALK_WEBHOOK" and hidden not in str(err.value)


def test_a_plain_http_webhook_is_allowed_only_on_loopback() -> None:
    env = {
        "TASKWATCH_TARGETS": "a/b/c",
        "TASKWATCH_REGION": "cn-hangzhou",
        **cloud_env(PLAIN_AK_ID, token=None),
    }
    for host in ("127.0.0.1:8080", "localhost", "[::1]:9", "127.1.2.3"):
        settings = load_settings({**env, "DINGTALK_WEBHOOK": f"http://{host}/robot/send?access_token=t"})
        assert [c.type for c in settings.channels] == ["dingtalk"]
    with pytest.raises(SettingsError, match="must be https"):
        load_settings({**env, "DINGTALK_WEBHOOK": "http://10.0.0.8/robot/send?access_token=t"})


def test_an_echoed_sts_token_never_reaches_the_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenSearch answers 403 quoting the caller's STS token; the 'cannot read' alert hides it."""
    set_env(
        monkeypatch,
        TASKWATCH_TARGETS="my_app/rec/inst1@1700",
        TASKWATCH_REGION="cn-hangzhou",
        TASKWATCH_STATE=f"oss://{BUCKET}/watch",
        TASKWATCH_OSS_ENDPOINT="https://oss-cn-hangzhou.aliyuncs.com",
        TASKWATCH_ERROR_TICKS="1",
        DINGTALK_WEBHOOK=WEBHOOK,
        **cloud_env(),
    )
    cloud: FakeCloud
    with fake_cloud() as cloud:
        cloud.set_task("my_app/rec/inst1", task("1700"))
        # Whole, and cut short as error messages do: neither form may reach the chat.
        leaked = f"denied for credential {STS_TOKEN} (token {STS_TOKEN[4:]}"
        echo = {"RequestId": "r", "Code": "Forbidden.RAM", "Message": leaked}
        cloud.opensearch_faults.append((403, echo))
        with pytest.raises(RuntimeError):
            index.handler(TIMER_EVENT, Context())
        sent = json.dumps(cloud.messages)
        state = cloud.objects["watch/state.json"].decode()
    assert "Forbidden.RAM" in sent and len(cloud.messages) == 1
    for i in range(len(STS_TOKEN) - 11):
        assert STS_TOKEN[i : i + 12] not in sent
    assert STS_TOKEN not in state


def test_both_entry_points_register_the_webhook_secrets_in_every_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """The timer tick and the HTTP trigger register the same webhook secrets: raw and decoded."""
    from taskwatch.http_api import _register_env_secrets
    from taskwatch.wiring import remember_secrets

    _register_env_secrets({"DINGTALK_WEBHOOK": "https://oapi.dingtalk.com/robot/send?access_token=tok%27en-one"})
    env = {
        "TASKWATCH_TARGETS": "a/b/c",
        "TASKWATCH_REGION": "cn-hangzhou",
        "DINGTALK_WEBHOOK": "https://bot:url-password-two@oapi.dingtalk.com/robot/send?access_token=tok%20two",
        **cloud_env(PLAIN_AK_ID, token=None),
    }
    remember_secrets(load_settings(env))
    text = scrub("echoed tok'en-one, tok%27en-one, tok two, url-password-two")
    for value in ("tok'en-one", "tok%27en-one", "tok two", "url-password-two"):
        assert value not in text, text


def test_only_the_most_recent_secrets_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm instance given a new STS token at every rotation does not grow without bound."""
    from taskwatch import redact as secrets

    monkeypatch.setattr(secrets, "_secrets", dict(secrets._secrets))  # restored after the test
    monkeypatch.setattr(secrets, "_index", secrets._index)
    # Unrelated tokens: no 12 characters in common (every piece of a kept one is masked anywhere).
    rotated = [
        "CAIS" + "".join(hashlib.sha256(f"{n}-{i}".encode()).hexdigest() for i in range(16))
        for n in range(secrets.MAX_SECRETS + 8)
    ]
    for token in rotated:
        register_secrets([token, QUOTED])  # each tick registers the secrets it uses again
    kept, pieces = len(secrets._secrets), len(secrets._index[1])  # counts only: a failure shows no secret
    assert kept <= secrets.MAX_SECRETS and pieces <= secrets.MAX_SECRETS * len(rotated[0])
    # Booleans, not `in` asserts: a failing `in` on long strings makes pytest diff them for minutes.
    forgotten = rotated[0] in scrub(rotated[0])  # long gone
    masked = [token not in scrub(f"echoed {token}") for token in [*rotated[-(secrets.MAX_SECRETS - 1) :], QUOTED]]
    assert forgotten and all(masked), (forgotten, masked)
