"""OpenSearch 2017-12-25 `GetFunctionTask` / `ListFunctionTasks` through aliyunsdkcore.

Pitfalls handled here (see cloud-facts.md): path placeholders are ``[name]``; the default
protocol is plain http; ALIYUN_ACCESS_KEY_* in the environment would replace our credential and
drop the STS token; the SDK retries nothing for OpenSearch and sends through HTTP(S)_PROXY even
to loopback.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from .model import FailureKind, Task
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


class TaskReader(Protocol):
    def get_task(self, target: Target, generation: str) -> Task: ...

    def latest_task(self, target: Target) -> Task | None: ...


def parse_extend_info(raw: Any) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...], str | None]:
    """(metrics, errors, problem) from ExtendInfo, a JSON string; bad JSON never raises."""
    if raw in (None, ""):
        return (), (), None
    data = raw
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except ValueError:
            return (), (), f"ExtendInfo is not JSON: {raw[:80]!r}"
    if not isinstance(data, dict):
        return (), (), f"ExtendInfo is not a JSON object: {str(raw)[:80]!r}"
    errors_raw = data.get("errors") or []
    if not isinstance(errors_raw, list):
        errors_raw = [errors_raw]
    errors = tuple(_short(e) for e in errors_raw)
    metrics = tuple(
        (str(k), _short(v)) for k, v in data.items() if k != "errors" and isinstance(v, (int, float, str, bool))
    )
    return metrics, errors, None


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_task(result: Any) -> Task:
    """A Task from one `Result` object; BadAnswer if a required field is missing or of the wrong type."""
    if not isinstance(result, dict):
        raise BadAnswer("Result is not an object")
    try:
        generation = str(result["Generation"])
        status = str(result["Status"]).lower()
        progress = float(result.get("Progress") or 0)
        start_time = int(result.get("StartTime") or 0)
        end_time = int(result.get("EndTime") or 0)
    except (KeyError, TypeError, ValueError) as err:
        raise BadAnswer(f"Result lacks a field or has a wrong type: {err}") from None
    metrics, errors, problem = parse_extend_info(result.get("ExtendInfo"))
    return Task(
        generation=generation,
        status=status,
        progress=max(0.0, min(100.0, progress)),
        start_time=start_time,
        end_time=end_time,
        run_id=str(result.get("RunId") or ""),
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
        self._region = region
        self._retries = retries
        self._sleep = sleep

    def get_task(self, target: Target, generation: str) -> Task:
        body = self._call(target, f"/tasks/{generation}", {})
        return parse_task(body.get("Result"))

    def latest_task(self, target: Target) -> Task | None:
        body = self._call(target, "/tasks", {"pageNumber": "1", "pageSize": "1"})
        results = body.get("Result")
        if not isinstance(results, list):
            raise BadAnswer("ListFunctionTasks Result is not a list")
        return parse_task(results[0]) if results else None

    def _call(self, target: Target, suffix: str, query: dict[str, str]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return self._call_once(target, suffix, query)
            except TransientError:
                if attempt >= self._retries:
                    raise
                attempt += 1
                self._sleep(RETRY_BACKOFF_S * attempt)  # module constant: tests set it to 0

    def _call_once(self, target: Target, suffix: str, query: dict[str, str]) -> dict[str, Any]:
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
        from aliyunsdkcore.request import CommonRequest

        request = CommonRequest(domain=self._endpoint.host, version=API_VERSION, product="OpenSearch")
        request.set_method("GET")
        request.set_protocol_type(self._endpoint.scheme)
        request.set_accept_format("JSON")
        request.set_uri_pattern(INSTANCE_PATH + suffix)
        request.add_path_param("appGroupIdentity", target.app_group)
        request.add_path_param("functionName", target.function)
        request.add_path_param("instanceName", target.instance)
        for name, value in query.items():
            request.add_query_param(name, value)
        try:
            raw = self._client.do_action_with_exception(request)
        except ServerException as err:
            raise _classify(err.get_http_status(), err.get_error_code(), err.get_error_msg()) from None
        except ClientException as err:
            raise TransientError(f"{err.get_error_code()}: {_first_line(err.get_error_msg())}") from None
        except IndexError:
            # The SDK crashes parsing some malformed error bodies; that is the server's fault.
            raise TransientError("unparseable error answer") from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise TransientError("answer is not JSON") from None
        if not isinstance(body, dict):
            raise TransientError("answer is not a JSON object")
        return body


def _first_line(text: Any) -> str:
    # A signature error echoes the string to sign, security token included: never keep that part.
    text = str(text).split("server string to sign", 1)[0].strip()
    return text.splitlines()[0][:200] if text else ""


def _classify(status: int | None, code: str | None, message: str | None) -> OpenSearchError:
    text = f"{code or 'HTTP ' + str(status)}: {_first_line(message)}"
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
