"""Lark: Feishu's bot on open.larksuite.com, registered as its own type and named in its errors."""

from __future__ import annotations

import pytest
import responses
from helpers.changes import failing
from helpers.chat import entry, sent_json
from responses import matchers

from taskwatch.config import ConfigError
from taskwatch.notifiers import feishu, lark, load
from taskwatch.ports import DEFAULT_TIMEOUTS, DeliveryError
from taskwatch.redact import mask_url

TOKEN = "8c1b5e0d-lark-hook-token-3f3f"
URL = f"https://open.larksuite.com/open-apis/bot/v2/hook/{TOKEN}"
SECRET = "larkSignSecret5d4c3b2a1"


def test_lark_is_its_own_type_with_feishus_bot() -> None:
    assert load("lark") is lark and lark.TYPE == "lark"
    assert lark.accepts_mention("ou_abc") and not lark.accepts_mention("U123ABC")


def test_a_lark_channel_posts_a_signed_card_with_its_mentions() -> None:
    options = lark.from_entry(entry("lark", URL, secret=SECRET, mention=("ou_owner1",)))
    assert {SECRET, TOKEN} <= set(lark.secrets(options))
    channel = lark.build(options, DEFAULT_TIMEOUTS)
    message = channel.digest([failing(1)], mentions=("all", "13800000000"))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(
            URL, json={"code": 0}, match=[matchers.json_params_matcher({"msg_type": "interactive"}, strict_match=False)]
        )
        channel.send(message)
        sent = sent_json(mock)
    assert sent["sign"] == feishu.sign(SECRET, int(sent["timestamp"]))
    assert sent["card"]["elements"][0]["text"]["content"].endswith("<at id=ou_owner1></at> <at id=all></at>")


def test_lark_errors_say_lark() -> None:
    channel = lark.build(lark.from_entry(entry("lark", URL)), DEFAULT_TIMEOUTS)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, json={"code": 11232, "msg": "frequency limited"})
        with pytest.raises(DeliveryError) as err:
            channel.send(channel.digest([failing(1)]))
        assert len(mock.calls) == 1
    assert err.value.rate_limited and str(err.value).startswith("Lark rate limit (11232")


def test_from_entry_errors_show_the_lark_host_and_mask_the_token() -> None:
    with pytest.raises(ConfigError) as err:
        lark.from_entry(entry("lark", f"https://open.larksuite.com/open-apis/bot/hook/{TOKEN}"))
    assert err.value.path == "channel[2].url" and "https://open.larksuite.com/open-apis/bot/v2/hook/" in str(err.value)
    assert TOKEN not in str(err.value) and TOKEN not in mask_url(URL)
