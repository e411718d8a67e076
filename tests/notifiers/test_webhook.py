"""The generic webhook: every change as JSON, Standard Webhooks headers and signature, the answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
import requests
import responses
from helpers.changes import change, failing, progressing
from helpers.chat import entry, refusal, sent_bytes, sent_json
from responses import matchers

from taskwatch.config import ConfigError
from taskwatch.digest import Message
from taskwatch.model import ChangeKind
from taskwatch.notifiers import webhook
from taskwatch.notifiers._http import Poster
from taskwatch.notifiers.webhook import WebhookNotifier
from taskwatch.ports import DeliveryError
from taskwatch.redact import register_secrets

URL = "https://receiver.example.com/hooks/taskwatch"
KEY_BYTES = b"standard-webhooks-test-key-0123456789"
SECRET = "whsec_" + base64.b64encode(KEY_BYTES).decode()
DIGEST_ID = "4f2a9c0d1e8b7a6f5c4d3e2f1a0b9c8d"


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """A receiver's check, written from the Standard Webhooks description."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (part.partition(",") for part in headers["webhook-signature"].split(" "))
    )


def notifier(secret: str | None = SECRET) -> WebhookNotifier:
    """The client ``webhook.build`` makes, with a fixed clock and no wait before the retry."""
    options = webhook.Options(URL, secret)
    http = Poster("Webhook", webhook.secrets(options), sleep=lambda _: None)
    return WebhookNotifier(options, http, clock=lambda: 1_700_000_000.7)


def test_the_body_and_the_signed_headers() -> None:
    changes = [failing(1), progressing(2)]
    message = notifier().digest(changes, mentions=("13800000000", "U0123ABCD"))
    expected = {
        "id": DIGEST_ID,
        "source": "taskwatch",
        "title": "taskwatch: 2 changes, 1 failed",
        "text": message.text,
        "changes": [
            {
                "id": changes[0].id,
                "target": "app_1/function/instance-1@latest",
                "kind": "status",
                "generation": "1700000001",
                "oldStatus": "running",
                "status": "failed",
                "progress": 40,
                "detail": "",
            },
            {
                "id": changes[1].id,
                "target": "app/fn/inst2@latest",
                "kind": "progress",
                "generation": "2",
                "oldStatus": None,
                "status": "running",
                "progress": 50,
                "detail": "50",
            },
        ],
    }
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(
            URL,
            status=204,
            match=[
                matchers.json_params_matcher(expected),
                matchers.header_matcher(
                    {"Content-Type": "application/json", "webhook-id": DIGEST_ID, "webhook-timestamp": "1700000000"}
                ),
            ],
        )
        notifier().send(message, key=DIGEST_ID)
        request = mock.calls[0].request
        body = sent_bytes(mock)
    assert verify(SECRET, dict(request.headers), body)
    assert not verify("whsec_" + base64.b64encode(b"another key").decode(), dict(request.headers), body)
    assert message.at_mobiles == () and "13800000000" not in message.text  # a program is not pinged


def test_without_a_secret_there_is_no_signature() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, status=200)
        notifier(None).send(Message("t", "x", ()), key=DIGEST_ID)
        assert "webhook-signature" not in mock.calls[0].request.headers


def test_without_a_key_the_id_is_the_same_on_every_attempt() -> None:
    message = notifier().digest([progressing(1)])
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, status=503)
        mock.post(URL, status=202)
        notifier().send(message)
        ids = [call.request.headers["webhook-id"] for call in mock.calls]
        body_id = sent_json(mock, 1)["id"]
    assert ids[0] == ids[1] == body_id and len(body_id) == 32


def test_every_change_is_sent_with_no_budget() -> None:
    changes = [failing(n) for n in range(300)]
    message = notifier().digest(changes)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL)
        notifier().send(message, key=DIGEST_ID)
        data = sent_json(mock)
    assert [c["id"] for c in data["changes"]] == [c.id for c in changes]
    assert "more (see GET /status" not in data["text"] and data["text"].count("**app_") == 300


def test_a_secret_in_a_change_is_scrubbed_from_every_field() -> None:
    leaked = "leaked-credential-Q1w2E3r4T5y6"
    register_secrets([leaked])
    message = notifier().digest([change(ChangeKind.ERROR, detail=f"auth: denied for {leaked}")])
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL)
        notifier().send(message, key=DIGEST_ID)
        sent = sent_bytes(mock).decode()
    assert leaked not in sent and "auth: denied for" in json.loads(sent)["changes"][0]["detail"]


@pytest.mark.parametrize(
    ("answers", "retryable", "rate_limited", "calls", "fragment"),
    [
        ([{"status": 429, "headers": {"Retry-After": "120"}}], True, True, 1, "Retry-After 120"),
        ([{"status": 400, "body": "bad signature"}], False, False, 1, "HTTP 400"),
        ([{"status": 410}], False, False, 1, "HTTP 410"),
        ([{"status": 301, "headers": {"Location": "https://elsewhere.example.com/"}}], False, False, 1, "HTTP 301"),
        ([{"status": 500}] * 2, True, False, 2, "HTTP 500"),
        ([{"body": requests.ReadTimeout()}] * 2, True, False, 2, "timed out"),
    ],
)
def test_answers(
    answers: list[dict[str, object]], retryable: bool, rate_limited: bool, calls: int, fragment: str
) -> None:
    err, made = refusal(URL, answers, lambda: notifier().send(Message("t", "x", ()), key=DIGEST_ID))
    assert made == calls and err.retryable is retryable and err.rate_limited is rate_limited
    assert fragment in str(err)


def test_the_secret_echoed_in_an_answer_never_reaches_the_error() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, status=401, body=f"signature mismatch with secret {SECRET}")
        with pytest.raises(DeliveryError) as err:
            notifier().send(Message("t", "x", ()), key=DIGEST_ID)
    assert SECRET not in str(err.value) and SECRET[6:18] not in str(err.value)


# --- the config file ------------------------------------------------------------------------------


def test_from_entry_reads_the_url_and_secret() -> None:
    url = "https://receiver.example.com/hooks?token=receiver-token-9z8y7x"
    options = webhook.from_entry(entry("webhook", url, secret=SECRET))
    assert options == webhook.Options(url=url, secret=SECRET)
    assert {SECRET, "receiver-token-9z8y7x"} <= set(webhook.secrets(options)) and SECRET not in repr(options)
    assert webhook.from_entry(entry("webhook", "http://127.0.0.1:8080/hook")).secret is None  # loopback, unsigned


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"url": None}, "channel[2].url", "is required"),
        ({"url": "http://receiver.example.com/hook?token=receiver-token-9z8y7x"}, "channel[2].url", "https://"),
        ({"secret": "plain-shared-secret-123"}, "channel[2].secret", "whsec_"),
        ({"secret": "whsec_not*base64*at-all!!"}, "channel[2].secret", "not base64"),
        ({"mention": ("U0123ABCD",)}, "channel[2].mention[0]", "pings nobody"),
        ({"keyword": "taskwatch"}, "channel[2].keyword", "no keyword mode"),
    ],
)
def test_from_entry_errors_name_the_key_and_hide_secrets(kwargs: dict[str, object], path: str, fragment: str) -> None:
    url = kwargs.pop("url", URL)
    with pytest.raises(ConfigError) as err:
        webhook.from_entry(entry("webhook", url, **kwargs))  # type: ignore[arg-type]
    assert err.value.path == path and fragment in str(err.value)
    for hidden in ("receiver-token-9z8y7x", "plain-shared-secret-123", "not*base64*at-all"):
        assert hidden not in str(err.value)
