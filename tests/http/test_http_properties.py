"""Property-based: generated FC events and real HTTP requests never get a 5xx, a traceback or a non-JSON body.

The settings are valid and the cloud is faked (loosely: a generated request may or may not reach
it), so any 5xx here would be the router's own fault. Strategies are built once at module level:
building them inside each draw costs more than the requests themselves.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections import Counter
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import responses
from helpers.creds import HTTP_TOKEN
from helpers.fakes import SDK_TARGET
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twhttp import DINGTALK, TASK_URL, invoke, task

from taskwatch.fc import EventError

EXAMPLES = 500
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ROUTES = ["/healthz", "/status", "/check", "/check/", "/", "/st%61tus", "//check", "/healthz/x", "/CHECK", ""]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "Post", "TRACE"]
AUTHS = [
    f"Bearer {HTTP_TOKEN}",
    f"bearer {HTTP_TOKEN}",
    f"Basic eA==,Bearer {HTTP_TOKEN}",
    "Bearer wrong",
    HTTP_TOKEN,
    "Bearer ",
    "",
]
DRY = ["true", "1", "false", "0", "", "TRUE", "yes", "true,false", "1,1"]
# Plausible calls, so that generated traffic also reaches the routes' bodies, not only the guards.
CALLS = [
    ("GET", "/healthz"),
    ("GET", "/status"),
    ("HEAD", "/status"),
    ("POST", "/check"),
    ("OPTIONS", "/check"),
    ("POST", "/check?dryRun=true"),
    ("POST", "/check?dryRun=1"),
    ("GET", "/check"),
    ("DELETE", "/status"),
]
FIELDS = [
    "version",
    "rawPath",
    "headers",
    "queryParameters",
    "body",
    "isBase64Encoded",
    "requestContext",
    "requestContext.http",
    "requestContext.http.method",
    "requestContext.http.path",
    "requestContext.requestId",
]


def _concat(a: str, b: str) -> str:
    return a + b


def _url_path(raw: bytes) -> str:
    return "/" + quote(raw, safe="/")


def _listify(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)


# JSON strings may hold lone surrogates ("\ud800"): valid JSON, not encodable as UTF-8.
TEXT = st.text(max_size=16) | st.builds(_concat, st.text(max_size=8), st.sampled_from(["\ud800", "\udfff", "\udc80x"]))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT, _listify, max_leaves=4
)
EVENT_METHODS = st.sampled_from(METHODS) | TEXT
EVENT_PATHS = st.sampled_from(ROUTES) | TEXT
EVENT_HEADERS = st.dictionaries(st.sampled_from(["Content-Type", "X-Any"]) | st.text(max_size=8), TEXT, max_size=3)
EVENT_QUERY = st.dictionaries(
    st.sampled_from(["dryRun", "dryrun", "x"]) | st.text(max_size=5), st.sampled_from(DRY) | TEXT, max_size=2
)
ANY_AUTH = st.sampled_from([None, *AUTHS]) | TEXT
AUTH_NAMES = st.sampled_from(["Authorization", "authorization", "AUTHORIZATION"])
BODY_KINDS = st.sampled_from(["empty", "text", "json", "binary", "bad-base64", "wrong-types"])

WIRE_METHODS = st.sampled_from(METHODS) | st.from_regex(r"[A-Z][A-Za-z-]{0,9}", fullmatch=True)
WIRE_PATHS = st.sampled_from(ROUTES[:-1]) | st.builds(_url_path, st.binary(max_size=20))
WIRE_QUERY = st.dictionaries(
    st.sampled_from(["dryRun", "x"]) | st.text(min_size=1, max_size=5),
    st.sampled_from(DRY) | st.text(max_size=8),
    max_size=2,
)
# Names http.client accepts, minus the framing headers (a random Content-Length would hang the read).
WIRE_NAMES = st.sampled_from(["Content-Type", "X-Forwarded-For", "Accept", "X-Any"]) | st.from_regex(
    r"X-[A-Za-z0-9-]{1,10}", fullmatch=True
)
WIRE_VALUES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30)
WIRE_BODIES = st.sampled_from([b"", b'{"dryRun": true}', b'{"dryRun": false}', b"[]"]) | st.binary(max_size=60)


@pytest.fixture
def cloud() -> Iterator[None]:
    """Loose fakes: a generated request may or may not reach them."""
    with (
        responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=False) as opensearch,
        responses.RequestsMock(assert_all_requests_are_fired=False) as dingtalk,
    ):
        opensearch.get(TASK_URL, json={"RequestId": "r", "Result": task()})
        dingtalk.post(DINGTALK, json={"errcode": 0, "errmsg": "ok"})
        yield


def _body(draw: st.DrawFn) -> tuple[Any, Any]:
    """(body, isBase64Encoded) as an event carries them, well- or ill-formed."""
    kind = draw(BODY_KINDS)
    if kind == "empty":
        return "", False
    if kind == "text":
        return draw(TEXT), False
    if kind == "json":
        return json.dumps(draw(JSON)), False
    if kind == "binary":  # random bytes, mostly not UTF-8
        return base64.b64encode(draw(st.binary(max_size=40))).decode(), True
    if kind == "bad-base64":
        return draw(st.text(max_size=12)) + "!", True
    return draw(JSON), draw(JSON)


@st.composite
def fc_events(draw: st.DrawFn) -> dict[str, Any]:
    plausible = draw(st.booleans())
    if plausible:
        method, target = draw(st.sampled_from(CALLS))
        path, _, query_text = target.partition("?")
        query = dict([query_text.split("=")]) if query_text else {}
    else:
        method, path, query = draw(EVENT_METHODS), draw(EVENT_PATHS), draw(EVENT_QUERY)
    headers = draw(EVENT_HEADERS)
    auth = AUTHS[0] if plausible and draw(st.booleans()) else draw(ANY_AUTH)
    if auth is not None:
        headers[draw(AUTH_NAMES)] = auth
    body, flag = ("", False) if plausible and draw(st.booleans()) else _body(draw)
    ev: dict[str, Any] = {
        "version": "v1",
        "rawPath": path,
        "headers": headers,
        "queryParameters": query,
        "body": body,
        "isBase64Encoded": flag,
        "requestContext": {"requestId": "1-abc", "http": {"method": method, "path": path, "protocol": "HTTP/1.1"}},
    }
    for field in [] if plausible else draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        *parents, last = field.split(".")  # a missing or wrongly typed field
        node: Any = ev
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            if draw(st.booleans()):
                node.pop(last, None)
            else:
                node[last] = draw(JSON)
    return ev


def test_generated_events_never_5xx(cloud: None, capsys: pytest.CaptureFixture[str]) -> None:
    seen: Counter[int] = Counter()

    @SETTINGS
    @given(ev=fc_events())
    def run(ev: dict[str, Any]) -> None:
        try:
            reply = invoke(json.dumps(ev).encode())  # asserts the FC answer contract (twhttp.check_answer)
        except EventError:
            # Not HTTP-shaped (requestContext and rawPath dropped): the clear error for an unknown shape.
            assert "requestContext" not in ev
            seen[-1] += 1
            return
        assert reply.status < 500, (ev, reply.json)
        assert "Traceback" not in capsys.readouterr().err
        seen[reply.status] += 1

    run()
    assert sum(seen.values()) >= EXAMPLES
    assert {200, 400, 401, 404, 405} <= set(seen), seen


@st.composite
def http_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    plausible = draw(st.booleans())
    if plausible:
        method, path = draw(st.sampled_from(CALLS))
    else:
        method, path = draw(WIRE_METHODS), draw(WIRE_PATHS)
        if draw(st.booleans()):
            path += "?" + urlencode(draw(WIRE_QUERY))
    headers = draw(st.dictionaries(WIRE_NAMES, WIRE_VALUES, max_size=3))
    auth = AUTHS[0] if plausible and draw(st.booleans()) else draw(st.sampled_from([None, *AUTHS]))
    if auth is not None:
        headers[draw(AUTH_NAMES)] = auth
    return method, path, headers, draw(WIRE_BODIES)


def test_generated_http_requests_never_5xx(
    cloud: None, server: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = server.server_address[:2]
    seen: Counter[int] = Counter()

    @SETTINGS
    @given(req=http_requests())
    def run(req: tuple[str, str, dict[str, str], bytes]) -> None:
        method, path, headers, body = req
        conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        assert resp.status < 500, (req, resp.status, raw)
        assert resp.headers["Content-Type"] == "application/json"
        assert b"Traceback" not in raw
        if method != "HEAD":
            assert isinstance(json.loads(raw), dict)
        seen[resp.status] += 1

    run()
    assert "Traceback" not in capsys.readouterr().err
    assert sum(seen.values()) >= EXAMPLES
    assert {200, 400, 401, 404, 405} <= set(seen), seen
