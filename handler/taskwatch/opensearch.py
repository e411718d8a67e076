"""OpenSearch 2017-12-25 `GetFunctionTask` / `ListFunctionTasks` through aliyunsdkcore.

SDK pitfalls handled here: path placeholders are ``[name]``; the default protocol is plain http;
the SDK retries nothing for OpenSearch. The client itself (our credential over ALIYUN_ACCESS_KEY_*,
no proxy even to loopback) is ``acs.acs_client``'s, shared with the KMS adapter.

Answers are read defensively: keys in PascalCase or camelCase, errors carried by a 200, list
items without a Generation, times in the wrong unit, and numbers no computation survives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import jsonsafe
from .acs import acs_client, error_text, send
from .causes import shorten, transport_reason
from .model import Task
from .ports import DEFAULT_TIMEOUTS, LIST_PAGE_SIZE, InstancePage, Timeouts
from .setting_values import NAME_RE, Credentials, Endpoint, Target
from .task_answers import (
    SYNTHETIC_IDENTITY,
    AuthFailed,
    BadAnswer,
    OpenSearchError,
    TaskNotFound,
    TransientError,
    parse_task,
)

__all__ = [
    "SYNTHETIC_IDENTITY",
    "AuthFailed",
    "BadAnswer",
    "OpenSearchClient",
    "OpenSearchError",
    "TaskNotFound",
    "TransientError",
]
API_VERSION = "2017-12-25"
FUNCTION_PATH = "/v4/openapi/app-groups/[appGroupIdentity]/functions/[functionName]"
INSTANCE_PATH = FUNCTION_PATH + "/instances/[instanceName]"
# Error-code families that mean "your credentials or permissions are wrong" (prefix match).
AUTH_PREFIXES = (
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidSecurityToken",
    "MissingSecurityToken",
    "Forbidden",
    "NoPermission",
    "InvalidTimeStamp",
    "IncompleteSignature",
    "InvalidAccessKeySecret",
)
TRANSIENT_CODES = frozenset({"ServiceUnavailable", "InternalError"})  # and every "Throttling*" code
SUCCESS_CODES = frozenset({"", "ok", "success", "200", "0"})  # what a success body may carry in Code


class OpenSearchClient:
    """Signed ROA calls with short timeouts and one retry (with backoff) on transient failures."""

    def __init__(
        self,
        endpoint: Endpoint,
        region: str,
        credentials: Credentials,
        *,
        pool_size: int = 16,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = acs_client(
            credentials,
            region,
            connect_timeout=timeouts.opensearch_connect,
            read_timeout=timeouts.opensearch_read,
            pool_size=pool_size,
        )
        self._endpoint = endpoint
        self._connect_timeout = timeouts.opensearch_connect
        self._read_timeout = timeouts.opensearch_read
        self._backoff = timeouts.opensearch_backoff
        self._retries = retries
        self._sleep = sleep

    def get_task(self, target: Target, generation: str) -> Task:
        body = self._task_call(target, f"/tasks/{generation}", {})
        return parse_task(jsonsafe.field(body, "Result"))

    def list_tasks(self, target: Target, page_number: int = 1, page_size: int = LIST_PAGE_SIZE) -> list[Task]:
        """One page of the instance's runs, newest first."""
        body = self._task_call(target, "/tasks", {"pageNumber": str(page_number), "pageSize": str(page_size)})
        results = jsonsafe.field(body, "Result")
        if results is None:
            return []
        if not isinstance(results, list):
            raise BadAnswer("ListFunctionTasks Result is not a list")
        return [parse_task(item) for item in results]

    def list_instances(self, app_group: str, function: str, page_number: int, page_size: int) -> InstancePage:
        """One page of the function's instance names (ListFunctionInstances), and the total."""
        params = {"appGroupIdentity": app_group, "functionName": function}
        query = {"pageNumber": str(page_number), "pageSize": str(page_size)}
        body = self._call(FUNCTION_PATH + "/instances", params, query)
        results = jsonsafe.field(body, "Result")
        if results is None:
            results = []
        if not isinstance(results, list):
            raise BadAnswer("ListFunctionInstances Result is not a list")
        names = []
        for item in results:
            name = (
                jsonsafe.field(item, "InstanceName") or jsonsafe.field(item, "Name") if isinstance(item, dict) else None
            )
            if not isinstance(name, str) or not NAME_RE.match(name) or name in (".", ".."):
                raise BadAnswer(f"ListFunctionInstances item without a usable instance name: {shorten(str(item))}")
            names.append(name)
        total = jsonsafe.field(body, "TotalCount")
        return InstancePage(names, total if isinstance(total, int) and not isinstance(total, bool) else None)

    def _task_call(self, target: Target, suffix: str, query: dict[str, str]) -> dict[str, Any]:
        params = {
            "appGroupIdentity": target.app_group,
            "functionName": target.function,
            "instanceName": target.instance,
        }
        return self._call(INSTANCE_PATH + suffix, params, query)

    def _call(self, pattern: str, params: dict[str, str], query: dict[str, str]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return self._call_once(pattern, params, query)
            except TransientError:
                if attempt >= self._retries:
                    raise
                attempt += 1
                self._sleep(self._backoff * attempt)

    def _call_once(self, pattern: str, params: dict[str, str], query: dict[str, str]) -> dict[str, Any]:
        from aliyunsdkcore.request import CommonRequest

        request = CommonRequest(domain=self._endpoint.host, version=API_VERSION, product="OpenSearch")
        request.set_method("GET")
        request.set_protocol_type(self._endpoint.scheme)
        request.set_accept_format("JSON")
        request.add_header("Accept-Encoding", "identity")
        request.set_uri_pattern(pattern)
        for name, value in params.items():
            request.add_path_param(name, value)
        for name, value in query.items():
            request.add_query_param(name, value)
        # The SDK signs and sends; we read the answer ourselves. Its own error parsing knows only
        # PascalCase ``Code``, treats every 2xx as success, crashes (IndexError, RecursionError) on
        # some bodies, and would log the string to sign (with the STS token) at ERROR.
        try:
            status, raw = send(
                self._client, request, connect_timeout=self._connect_timeout, read_timeout=self._read_timeout
            )
        except OSError as err:  # requests' exceptions are IOErrors: refused, reset, timed out
            raise TransientError(f"SDK.HttpError: {transport_reason(str(err))}") from None
        return _read_answer(status, raw)


def _read_answer(status: int, raw: bytes | None) -> dict[str, Any]:
    """The answer's JSON object, or the typed error it (or its status) stands for."""
    try:
        body: Any = jsonsafe.loads(raw or b"")
    except jsonsafe.NotJson:
        if 200 <= status < 300:
            raise TransientError("answer is not JSON") from None
        raise _classify(status, None, None) from None
    except jsonsafe.BadJson as err:
        raise BadAnswer(f"answer holds a bad value: {err}") from None
    if not isinstance(body, dict):
        if 200 <= status < 300:
            raise TransientError("answer is not a JSON object")
        raise _classify(status, None, None)
    code = jsonsafe.field(body, "Code")
    message = jsonsafe.field(body, "Message")
    http_code = jsonsafe.field(body, "HttpCode")
    declared = http_code if isinstance(http_code, int) and not isinstance(http_code, bool) else None
    if not 200 <= status < 300:
        return _raise(_classify(status, code, message))
    if _is_error_code(code) or (declared is not None and declared >= 400):
        # A 200 that carries an error is that error (a gateway in front of the API does this).
        return _raise(_classify(declared if declared and declared >= 400 else status, code, message))
    return body


def _raise(error: OpenSearchError) -> dict[str, Any]:
    raise error


def _is_error_code(code: Any) -> bool:
    if isinstance(code, bool) or code is None:
        return False
    if isinstance(code, (int, float)):
        return code not in (0, 200)
    return isinstance(code, str) and code.strip().lower() not in SUCCESS_CODES


def _classify(status: int | None, code: Any, message: Any) -> OpenSearchError:
    code = str(code).strip() if isinstance(code, (str, int)) and not isinstance(code, bool) and str(code) else None
    text = f"{code or 'HTTP ' + str(status)}: {error_text(message if message is not None else '')}".rstrip(": ")
    is_auth = bool(code) and str(code).startswith(AUTH_PREFIXES)
    if is_auth or status in (401, 403):
        return AuthFailed(text)
    if code and ("NotExist" in code or "NotFound" in code):
        return TaskNotFound(text)
    throttled = bool(code) and str(code).startswith("Throttling")
    if throttled or code in TRANSIENT_CODES or status is None or status >= 500 or status == 429:
        return TransientError(text)
    if status == 404:
        return TaskNotFound(text)
    return BadAnswer(text)
