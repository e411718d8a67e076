"""Real clients (aliyunsdkcore, alibabacloud_oss_v2) configured against the emulator."""

from __future__ import annotations

import json
from typing import Any

import alibabacloud_oss_v2 as oss
from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from helpers.creds import AK_ID, AK_SECRET, STS_TOKEN

from taskwatch_emulator import Emulator

BUCKET = "tw-state"
TASK_URI = "/v4/openapi/app-groups/[app]/functions/[fn]/instances/[inst]/tasks/[gen]"
LIST_URI = "/v4/openapi/app-groups/[app]/functions/[fn]/instances/[inst]/tasks"


class Acs:
    """aliyunsdkcore pointed at the fake, configured the way taskwatch is expected to."""

    def __init__(
        self, emu: Emulator, secret: str = AK_SECRET, token: str | None = STS_TOKEN, ak: str = AK_ID, timeout: float = 2
    ) -> None:
        self.domain = emu.opensearch_endpoint.removeprefix("http://")
        cred = StsTokenCredential(ak, secret, token) if token else AccessKeyCredential(ak, secret)
        self.client = AcsClient(region_id="cn-hangzhou", credential=cred, connect_timeout=2, timeout=timeout)

    def _request(self, uri: str, params: dict[str, str], query: dict[str, str] | None = None) -> CommonRequest:
        req = CommonRequest(domain=self.domain, version="2017-12-25", product="OpenSearch")
        req.set_protocol_type("http")
        req.set_method("GET")
        req.set_uri_pattern(uri)
        for k, v in params.items():
            req.add_path_param(k, v)
        for k, v in (query or {}).items():
            req.add_query_param(k, v)
        return req

    def get(self, gen: str | int, app: str = "app", fn: str = "rec", inst: str = "inst1") -> dict[str, Any]:
        req = self._request(TASK_URI, {"app": app, "fn": fn, "inst": inst, "gen": str(gen)})
        return dict(json.loads(self.client.do_action_with_exception(req)))

    def get_raw(self, gen: str | int, inst: str = "inst1") -> bytes:
        req = self._request(TASK_URI, {"app": "app", "fn": "rec", "inst": inst, "gen": str(gen)})
        return bytes(self.client.do_action_with_exception(req))

    def list(self, inst: str = "inst1", **query: str) -> dict[str, Any]:
        req = self._request(LIST_URI, {"app": "app", "fn": "rec", "inst": inst}, query)
        return dict(json.loads(self.client.do_action_with_exception(req)))


def oss_client(
    emu: Emulator, ak: str = AK_ID, secret: str = AK_SECRET, token: str | None = STS_TOKEN, timeout: float | None = None
) -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, secret, token)
    cfg.region = "cn-hangzhou"
    cfg.endpoint = emu.oss_endpoint
    cfg.use_path_style = True
    cfg.retry_max_attempts = 1
    if timeout is not None:
        cfg.connect_timeout = timeout
        cfg.readwrite_timeout = timeout
    return oss.Client(cfg)
