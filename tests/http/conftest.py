"""Fixtures: a clean, valid environment (file state in tmp), strict fake OpenSearch and DingTalk, a live server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import responses
from helpers.creds import DINGTALK_SECRET, HTTP_TOKEN, WEBHOOK_TOKEN, cloud_env
from helpers.env import set_env
from helpers.fakes import SDK_TARGET
from twhttp import DINGTALK

from taskwatch.serve import make_server


@pytest.fixture(autouse=True)
def env(clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Valid settings on top of the clean environment (tests/conftest.py); file state in tmp."""
    state = tmp_path / "state"
    set_env(
        monkeypatch,
        TASKWATCH_TARGETS="app1/rec/inst1@1700",
        TASKWATCH_REGION="cn-hangzhou",
        TASKWATCH_STATE=f"file://{state}",
        TASKWATCH_HTTP_TOKEN=HTTP_TOKEN,
        DINGTALK_WEBHOOK=f"{DINGTALK}?access_token={WEBHOOK_TOKEN}",
        DINGTALK_SECRET=DINGTALK_SECRET,
        **cloud_env(),
    )
    return state


@pytest.fixture
def opensearch() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
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
