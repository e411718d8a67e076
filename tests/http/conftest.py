"""Fixtures: a clean, valid environment (file state in tmp), strict fake OpenSearch and DingTalk, a live server."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import responses
from twhttp import AK_ID, AK_SECRET, DINGTALK, DINGTALK_SECRET, STS_TOKEN, TOKEN, WEBHOOK_TOKEN

from taskwatch.serve import make_server

SDK_SEND = "aliyunsdkcore.vendored.requests.adapters.HTTPAdapter.send"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Valid settings; the SDK would proxy loopback and let ALIYUN_* replace the credential."""
    for name in list(os.environ):
        if "PROXY" in name.upper() or name.startswith(("ALIYUN_", "ALIBABA_CLOUD_", "TASKWATCH_", "DINGTALK_")):
            monkeypatch.delenv(name)
    state = tmp_path / "state"
    monkeypatch.setenv("TASKWATCH_TARGETS", "app1/rec/inst1@1700")
    monkeypatch.setenv("TASKWATCH_REGION", "cn-hangzhou")
    monkeypatch.setenv("TASKWATCH_STATE", f"file://{state}")
    monkeypatch.setenv("TASKWATCH_HTTP_TOKEN", TOKEN)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", STS_TOKEN)
    monkeypatch.setenv("DINGTALK_WEBHOOK", f"{DINGTALK}?access_token={WEBHOOK_TOKEN}")
    monkeypatch.setenv("DINGTALK_SECRET", DINGTALK_SECRET)
    return state


@pytest.fixture
def opensearch() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(target=SDK_SEND, assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def dingtalk() -> Iterator[responses.RequestsMock]:
    """Strict: with nothing registered, any send fails the tick (how dry-run tests prove nothing went out)."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = make_server(0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)
