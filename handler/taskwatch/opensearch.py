"""OpenSearch 2017-12-25 `GetFunctionTask` / `ListFunctionTasks` through aliyunsdkcore.

SDK pitfalls handled here: path placeholders are ``[name]``; the default protocol is plain http;
ALIYUN_ACCESS_KEY_* in the environment would replace our credential and drop the STS token; the
SDK retries nothing for OpenSearch and sends through HTTP(S)_PROXY even to loopback.

Answers are read defensively: keys in PascalCase or camelCase, errors carried by a 200, list
items without a Generation, times in the wrong unit, and numbers no computation survives.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from . import jsonsafe
from .causes import shorten, transport_reason
from .model import FailureKind, Task
from .ports import LIST_PAGE_SIZE
from .settings import Credentials, Endpoint, Target

API_VERSION = "2017-12-25"
INSTANCE_PATH = "/v4/openapi/app-groups/[appGroupIdentity]/functions/[functionName]/instances/[instanceName]"
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 8
RETRY_BACKOFF_S = 0.3
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
SYNTHETIC_IDENTITY = ("run:", "start:")  # a run listed without a Generation: it cannot be read by one
EARLIEST_MS = 946_684_800_000  # 2000-01-01
LATEST_MS = 4_102_444_800_000  # 2100-01-01

# The SDK logs every ServerException at ERROR; we log our own one-line cause instead.
logging.getLogger("aliyunsdkcore").setLevel(logging.CRITICAL)


class OpenSearchError(Exception):
    kind = FailureKind.TRANSIENT


class TaskNotFound(OpenSearchError):
    kind = FailureKind.NOT_FOUND


class AuthFailed(OpenSearchError):
    kind = FailureKind.AUTH


class TransientError(OpenSearchError):
    kind = FailureKind.TRANSIENT


class BadAnswer(OpenSearchError):
    kind = FailureKind.INVALID


def parse_extend_info(raw: Any) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...], str | None]:
    """(metrics, errors, problem) from ExtendInfo, a JSON string.

    Text that is not JSON is a ``problem`` (logged; the task itself is still read). JSON holding
    values nobody can compute with (NaN, 1e999, 10**400, deep nesting) raises BadAnswer: the answer
    is bad, and the target's read fails this tick.
    """
    if raw in (None, ""):
        return (), (), None
    data = raw
    if isinstance(raw, str):
        try:
            data = jsonsafe.loads(raw)
        except jsonsafe.NotJson:
            return (), (), f"ExtendInfo is not JSON: {raw[:80]!r}"
        except jsonsafe.BadJson as err:
            raise BadAnswer(f"ExtendInfo holds a bad value: {err}") from None
    else:
        try:
            jsonsafe.check_depth(data)
        except jsonsafe.BadJson as err:
            raise BadAnswer(f"ExtendInfo holds a bad value: {err}") from None
    if not isinstance(data, dict):
        return (), (), f"ExtendInfo is not a JSON object: {str(raw)[:80]!r}"
    errors_raw = data.get("errors") or []
    if not isinstance(errors_raw, list):
        errors_raw = [errors_raw]
    errors = tuple(_short(e) for e in errors_raw)
    metrics = tuple(
        (str(k), _short(v))
        for k, v in data.items()
        if k != "errors" and isinstance(v, (int, float, str, bool)) and not _non_finite(v)
    )
    return metrics, errors, None


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_time(value: Any) -> int:
    """Milliseconds since the epoch, or 0 (unknown) for anything that is not a time in 2000-2100.

    Seconds, microseconds, negative numbers, huge numbers and text all end up unknown rather than
    crashing a date conversion later.
    """
    if isinstance(value, bool) or value is None:
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = _iso_ms(value)
    if not math.isfinite(number) or not EARLIEST_MS <= number <= LATEST_MS:
        return 0
    return int(number)


def _iso_ms(value: Any) -> float:
    """An ISO 8601 time ("2026-11-19T08:00:00Z") in ms; 0 when it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return 0
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() * 1000


def task_identity(result: dict[str, Any]) -> str:
    """The run's key: its ``Generation``; a list item without one is known by ``RunId``, then ``StartTime``."""
    generation = jsonsafe.field(result, "Generation")
    if generation not in (None, ""):
        if isinstance(generation, (dict, list, bool)) or _non_finite(generation):
            raise BadAnswer("Result.Generation is not a number or a string")
        if isinstance(generation, float) and generation.is_integer():
            generation = int(generation)
        return str(generation)[:200]
    run_id = jsonsafe.field(result, "RunId")
    if isinstance(run_id, (str, int)) and not isinstance(run_id, bool) and str(run_id):
        return f"{SYNTHETIC_IDENTITY[0]}{str(run_id)[:200]}"
    started = parse_time(jsonsafe.field(result, "StartTime"))
    if started:
        return f"{SYNTHETIC_IDENTITY[1]}{started}"
    raise BadAnswer("Result lacks a field: Generation (and has no RunId or StartTime either)")


def parse_task(result: Any) -> Task:
    """A Task from one ``Result`` object (any key casing); BadAnswer if a field is missing or unusable."""
    if not isinstance(result, dict):
        raise BadAnswer("Result is not an object")
    generation = task_identity(result)
    status = jsonsafe.field(result, "Status")
    if not isinstance(status, str) or not status.strip():
        raise BadAnswer("Result lacks a field or has a wrong type: Status")
    raw_progress = jsonsafe.field(result, "Progress")
    if isinstance(raw_progress, str):
        raw_progress = raw_progress.strip().removesuffix("%")
    try:
        progress = float(raw_progress or 0)
    except (TypeError, ValueError, OverflowError):
        raise BadAnswer(f"Result.Progress is not a number: {str(raw_progress)[:40]!r}") from None
    if not math.isfinite(progress):
        raise BadAnswer("Result.Progress is not a finite number")
    metrics, errors, problem = parse_extend_info(jsonsafe.field(result, "ExtendInfo"))
    run_id = jsonsafe.field(result, "RunId")
    return Task(
        generation=generation,
        status=status.strip().lower()[:40],
        progress=max(0.0, min(100.0, progress)),
        start_time=parse_time(jsonsafe.field(result, "StartTime")),
        end_time=parse_time(jsonsafe.field(result, "EndTime")),
        run_id=str(run_id)[:200] if isinstance(run_id, (str, int)) and not isinstance(run_id, bool) else "",
        metrics=metrics,
        errors=errors,
        extend_info_problem=problem,
    )


class OpenSearchClient:
    """Signed ROA calls with short timeouts and one retry (with backoff) on transient failures."""

    def __init__(
        self,
        endpoint: Endpoint,
        region: str,
        credentials: Credentials,
        *,
        pool_size: int = 16,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        retries: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
        from aliyunsdkcore.auth.signers.access_key_signer import AccessKeySigner
        from aliyunsdkcore.auth.signers.sts_token_signer import StsTokenSigner
        from aliyunsdkcore.client import AcsClient

        if credentials.security_token:
            signer: Any = StsTokenSigner(
                StsTokenCredential(credentials.access_key_id, credentials.access_key_secret, credentials.security_token)
            )
        else:
            signer = AccessKeySigner(AccessKeyCredential(credentials.access_key_id, credentials.access_key_secret))
        self._client = AcsClient(
            region_id=region,
            credential=StsTokenCredential("unused", "unused", "unused"),
            auto_retry=False,
            connect_timeout=connect_timeout or CONNECT_TIMEOUT_S,
            timeout=read_timeout or READ_TIMEOUT_S,
            pool_size=pool_size,
            # A truthy mapping that names no scheme: the SDK then uses no proxy at all instead of
            # HTTP(S)_PROXY, which it would apply even to loopback and private endpoints.
            proxy={"none": ""},
        )
        # The SDK picks ALIYUN_ACCESS_KEY_ID/_SECRET from the environment over the credential it
        # is given (and then sends no STS token); setting the signer ourselves makes ours win.
        self._client._signer = signer
        self._endpoint = endpoint
        self._connect_timeout = connect_timeout or CONNECT_TIMEOUT_S
        self._read_timeout = read_timeout or READ_TIMEOUT_S
        self._retries = retries
        self._sleep = sleep

    def get_task(self, target: Target, generation: str) -> Task:
        body = self._call(target, f"/tasks/{generation}", {})
        return parse_task(jsonsafe.field(body, "Result"))

    def list_tasks(self, target: Target, page_number: int = 1, page_size: int = LIST_PAGE_SIZE) -> list[Task]:
        """One page of the instance's runs, newest first."""
        body = self._call(target, "/tasks", {"pageNumber": str(page_number), "pageSize": str(page_size)})
        results = jsonsafe.field(body, "Result")
        if results is None:
            return []
        if not isinstance(results, list):
            raise BadAnswer("ListFunctionTasks Result is not a list")
        return [parse_task(item) for item in results]

    def _call(self, target: Target, suffix: str, query: dict[str, str]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return self._call_once(target, suffix, query)
            except TransientError:
                if attempt >= self._retries:
                    raise
                attempt += 1
                self._sleep(RETRY_BACKOFF_S * attempt)

    def _call_once(self, target: Target, suffix: str, query: dict[str, str]) -> dict[str, Any]:
        from aliyunsdkcore.request import CommonRequest

        request = CommonRequest(domain=self._endpoint.host, version=API_VERSION, product="OpenSearch")
        request.set_method("GET")
        request.set_protocol_type(self._endpoint.scheme)
        request.set_accept_format("JSON")
        request.add_header("Accept-Encoding", "identity")
        request.set_uri_pattern(INSTANCE_PATH + suffix)
        request.add_path_param("appGroupIdentity", target.app_group)
        request.add_path_param("functionName", target.function)
        request.add_path_param("instanceName", target.instance)
        for name, value in query.items():
            request.add_query_param(name, value)
        # The SDK signs and sends; we read the answer ourselves. Its own error parsing knows only
        # PascalCase ``Code``, treats every 2xx as success, crashes (IndexError, RecursionError) on
        # some bodies, and would log the string to sign (with the STS token) at ERROR.
        try:
            http = self._client._make_http_response(
                request.endpoint, request, self._read_timeout, self._connect_timeout
            )
            status, _, raw = http.get_response_object()
        except OSError as err:  # requests' exceptions are IOErrors: refused, reset, timed out
            raise TransientError(f"SDK.HttpError: {transport_reason(str(err))}") from None
        return _read_answer(int(status), raw)


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


def _first_line(text: Any) -> str:
    # A signature error echoes the string to sign, security token included: never keep that part.
    text = str(text).split("server string to sign", 1)[0].strip()
    return shorten(text.splitlines()[0]) if text else ""


def _classify(status: int | None, code: Any, message: Any) -> OpenSearchError:
    code = str(code).strip() if isinstance(code, (str, int)) and not isinstance(code, bool) and str(code) else None
    text = f"{code or 'HTTP ' + str(status)}: {_first_line(message if message is not None else '')}".rstrip(": ")
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
