"""Local emulator of OpenSearch, OSS and chat platforms on loopback, verifying signatures.

    with Emulator(access_key_id="STS.k", access_key_secret="s", security_token="t",
                  dingtalk_secret="SECxyz", clock=clock) as emu:
        emu.oss.create_bucket("state")
        emu.opensearch.add_task("app", "rec", "inst1", 1700000000, [
            Step("running", 10),
            Step("running", 60, after_calls=2),
            Step("success", 100, {"recall": 91, "errors": []}, after_seconds=300),
        ])
        os.environ.update(emu.env(bucket="state"))
        ...
        emu.dingtalk.messages  # accepted robot messages
        emu.wecom / emu.feishu / emu.lark / emu.slack / emu.webhook  # the other channels' fakes

Standard library only and independent of ``taskwatch`` so the function never loads it.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from .auth import (
    Key,
    KeyRing,
    dingtalk_sign,
    feishu_sign,
    roa_signature,
    roa_string_to_sign,
    rpc_signature,
    rpc_string_to_sign,
    standard_webhook_key,
    standard_webhook_sign,
)
from .base import Call, Clock, ManualClock
from .dingtalk import DingTalkFake
from .faults import Fault, FaultKind
from .feishu import FeishuFake
from .kms import KmsFake
from .opensearch import OpenSearchFake
from .oss import OssFake
from .slack import SlackFake
from .timeline import Step, Task
from .webhook import Delivery, WebhookReceiverFake
from .wecom import WeComFake

__all__ = [
    "Call",
    "Clock",
    "Delivery",
    "DingTalkFake",
    "Emulator",
    "Fault",
    "FaultKind",
    "FeishuFake",
    "Key",
    "KeyRing",
    "KmsFake",
    "ManualClock",
    "OpenSearchFake",
    "OssFake",
    "SlackFake",
    "Step",
    "Task",
    "WeComFake",
    "WebhookReceiverFake",
    "dingtalk_sign",
    "feishu_sign",
    "roa_signature",
    "roa_string_to_sign",
    "rpc_signature",
    "rpc_string_to_sign",
    "standard_webhook_key",
    "standard_webhook_sign",
]

# Fake credentials of the chat fakes, so an emulator built without them still has working URLs.
WECOM_KEY = "emulator-wecom-key"
FEISHU_TOKEN = "emulator-feishu-token"
LARK_TOKEN = "emulator-lark-token"
SLACK_PATH = "/services/T000/B000/emulatorSlackSecret"
WEBHOOK_SECRET = "whsec_dGFza3dhdGNoLWVtdWxhdG9yLXdlYmhvb2sta2V5ISE="


class Emulator:
    """Starts the fakes (on ``start()`` or ``with``); ``stop()`` is quick and idempotent."""

    def __init__(
        self,
        access_key_id: str = "LTAIemulatorAccessKey",
        access_key_secret: str = "emulator-secret",  # noqa: S107 - a fake's own key
        security_token: str | None = None,
        dingtalk_token: str = "emulator-robot-token",  # noqa: S107
        dingtalk_secret: str | None = None,
        keyword: str | None = None,
        clock: Clock | None = None,
        auth_clock: Clock | None = None,
        region: str = "cn-hangzhou",
        wecom_key: str = WECOM_KEY,
        feishu_token: str = FEISHU_TOKEN,
        feishu_secret: str | None = None,
        lark_token: str = LARK_TOKEN,
        lark_secret: str | None = None,
        slack_path: str = SLACK_PATH,
        webhook_secret: str = WEBHOOK_SECRET,
    ) -> None:
        """``clock`` drives timelines, object times and the chat rate windows;
        ``auth_clock`` (default: ``clock``) is what request Date / x-oss-date / robot
        timestamps are checked against — keep it real when ``clock`` jumps hours ahead."""
        self.clock: Clock = clock or time.time
        self.region = region
        self.keys = KeyRing([Key(access_key_id, access_key_secret, security_token)])
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token
        self.opensearch = OpenSearchFake(self.keys, self.clock, auth_clock)
        self.oss = OssFake(self.keys, self.clock, auth_clock)
        self.dingtalk = DingTalkFake(dingtalk_token, self.clock, dingtalk_secret, keyword, auth_clock)
        self.kms = KmsFake(self.keys, self.clock, auth_clock)  # secrets: emu.kms.put_secret(name, value)
        # Keywords of the Feishu / Lark bots are set on them: ``emu.feishu.keyword = "..."``.
        self.wecom = WeComFake(wecom_key, self.clock, auth_clock)
        self.feishu = FeishuFake(feishu_token, self.clock, feishu_secret, auth_clock=auth_clock)
        self.lark = FeishuFake(lark_token, self.clock, lark_secret, auth_clock=auth_clock, name="lark")
        self.slack = SlackFake(slack_path, self.clock, auth_clock)
        self.webhook = WebhookReceiverFake(webhook_secret, self.clock, auth_clock=auth_clock)
        self.chats = (self.wecom, self.feishu, self.lark, self.slack, self.webhook)

    def start(self) -> Emulator:
        try:
            for svc in (self.opensearch, self.oss, self.kms, self.dingtalk, *self.chats):
                svc.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # In parallel: each server's shutdown waits for its poll loop to notice.
        services = (self.opensearch, self.oss, self.kms, self.dingtalk, *self.chats)
        threads = [threading.Thread(target=s.stop) for s in services]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def opensearch_endpoint(self) -> str:
        return self.opensearch.endpoint

    @property
    def oss_endpoint(self) -> str:
        return self.oss.endpoint

    @property
    def kms_endpoint(self) -> str:
        return self.kms.endpoint

    @property
    def dingtalk_webhook(self) -> str:
        return f"{self.dingtalk.endpoint}/robot/send?access_token={self.dingtalk.access_token}"

    @property
    def wecom_webhook(self) -> str:
        return f"{self.wecom.endpoint}/cgi-bin/webhook/send?key={self.wecom.key}"

    @property
    def feishu_webhook(self) -> str:
        return f"{self.feishu.endpoint}/open-apis/bot/v2/hook/{self.feishu.token}"

    @property
    def lark_webhook(self) -> str:
        return f"{self.lark.endpoint}/open-apis/bot/v2/hook/{self.lark.token}"

    @property
    def slack_webhook(self) -> str:
        return self.slack.endpoint + self.slack.path

    @property
    def webhook_url(self) -> str:
        return self.webhook.endpoint + self.webhook.path

    def env(self, bucket: str | None = None, prefix: str = "taskwatch") -> dict[str, str]:
        """taskwatch settings pointing at this emulator (plus TASKWATCH_STATE if ``bucket``)."""
        env = {
            "TASKWATCH_OPENSEARCH_ENDPOINT": self.opensearch_endpoint,
            "TASKWATCH_OSS_ENDPOINT": self.oss_endpoint,
            "TASKWATCH_KMS_ENDPOINT": self.kms_endpoint,
            "TASKWATCH_REGION": self.region,
            "DINGTALK_WEBHOOK": self.dingtalk_webhook,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": self.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.access_key_secret,
        }
        if self.security_token is not None:
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = self.security_token
        if self.dingtalk.secret is not None:
            env["DINGTALK_SECRET"] = self.dingtalk.secret
        if self.dingtalk.keyword is not None:
            env["DINGTALK_KEYWORD"] = self.dingtalk.keyword
        if bucket is not None:
            self.oss.create_bucket(bucket)
            env["TASKWATCH_STATE"] = f"oss://{bucket}/{prefix}"
        return env
