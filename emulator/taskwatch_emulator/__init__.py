"""Local emulator of OpenSearch, OSS and a DingTalk robot on loopback, verifying signatures.

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

Standard library only and independent of ``taskwatch`` so the function never loads it.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from .auth import Key, KeyRing, dingtalk_sign, roa_signature, roa_string_to_sign
from .base import Call, Clock, ManualClock
from .dingtalk import DingTalkFake
from .faults import Fault, FaultKind
from .opensearch import OpenSearchFake
from .oss import OssFake
from .timeline import Step, Task

__all__ = [
    "Call",
    "Clock",
    "DingTalkFake",
    "Emulator",
    "Fault",
    "FaultKind",
    "Key",
    "KeyRing",
    "ManualClock",
    "OpenSearchFake",
    "OssFake",
    "Step",
    "Task",
    "dingtalk_sign",
    "roa_signature",
    "roa_string_to_sign",
]


class Emulator:
    """Starts the three fakes (on ``start()`` or ``with``); ``stop()`` is quick and idempotent."""

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
    ) -> None:
        """``clock`` drives timelines, object times and the DingTalk rate window;
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

    def start(self) -> Emulator:
        try:
            for svc in (self.opensearch, self.oss, self.dingtalk):
                svc.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # In parallel: each server's shutdown waits for its poll loop to notice.
        threads = [threading.Thread(target=s.stop) for s in (self.opensearch, self.oss, self.dingtalk)]
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
    def dingtalk_webhook(self) -> str:
        return f"{self.dingtalk.endpoint}/robot/send?access_token={self.dingtalk.access_token}"

    def env(self, bucket: str | None = None, prefix: str = "taskwatch") -> dict[str, str]:
        """taskwatch settings pointing at this emulator (plus TASKWATCH_STATE if ``bucket``)."""
        env = {
            "TASKWATCH_OPENSEARCH_ENDPOINT": self.opensearch_endpoint,
            "TASKWATCH_OSS_ENDPOINT": self.oss_endpoint,
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
