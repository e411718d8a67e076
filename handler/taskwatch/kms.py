"""KMS Secrets Manager ``GetSecretValue`` (RPC style, version 2016-01-20) through aliyunsdkcore: the
``${kms:SecretName}`` references of the config file.

A secret is read once per warm instance: :class:`SecretCache` lives in the wiring's ClientCache,
so later ticks (and rotated STS credentials) reuse the value without a request. Every value read
is registered with ``redact`` at once, before anything can format it, so it is masked in errors,
log lines, answers, CLI output, the state and chat messages. The SDK is imported only when a
reference is first read: a config without one, or a warm instance, never loads it for KMS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import jsonsafe
from .acs import acs_client, error_text, send
from .causes import transport_reason
from .config import ConfigError
from .config_refs import SECRET_NAME_RE, KmsResolver
from .ports import DEFAULT_TIMEOUTS, Timeouts
from .redact import register_secrets
from .setting_values import NO_CREDENTIALS, Credentials, Endpoint, parse_endpoint
from .settings import REGION_RE, load_credentials, resolve_region

if TYPE_CHECKING:
    from .wiring import ClientCache

API_VERSION = "2016-01-20"
ACTION = "GetSecretValue"
ENDPOINT_VARIABLE = "TASKWATCH_KMS_ENDPOINT"
# Error-code families that mean "your credentials or permissions are wrong" (prefix match).
AUTH_PREFIXES = (
    "Forbidden",
    "NoPermission",
    "InvalidAccessKeyId",
    "InvalidAccessKeySecret",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidSecurityToken",
    "MissingSecurityToken",
    "InvalidTimeStamp",
)
NOT_FOUND_CODES = frozenset({"Forbidden.ResourceNotFound", "Forbidden.SecretNotFound"})
TRANSIENT_CODES = frozenset({"ServiceUnavailable", "InternalFailure", "InternalError"})  # and "Throttling*"


class KmsError(Exception):
    """A secret could not be read; the message names it and never holds its value."""


class SecretNotFound(KmsError):
    pass


class KmsAuthFailed(KmsError):
    pass


class KmsUnavailable(KmsError):
    """Transient: a timeout, a refused connection, throttling or a 5xx. Nothing is cached, so the
    next tick asks again."""


class KmsBadAnswer(KmsError):
    pass


class KmsClient:
    """Signed RPC calls with explicit timeouts and one retry (with backoff) on transient failures.

    KMS is read once per instance, at the first tick, like any other Alibaba Cloud API call of
    that tick: it gets the OpenSearch calls' timeouts.
    """

    def __init__(
        self,
        credentials: Credentials,
        region: str,
        endpoint: Endpoint,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        *,
        retries: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._connect_timeout = timeouts.opensearch_connect
        self._read_timeout = timeouts.opensearch_read
        self._backoff = timeouts.opensearch_backoff
        self._client = acs_client(
            credentials,
            region,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            pool_size=1,
        )
        self._endpoint = endpoint
        self._retries = retries
        self._sleep = sleep

    def get_secret_value(self, name: str) -> str:
        """The secret's current text; a KmsError subclass otherwise."""
        # The SDK encodes a query value, but a name outside KMS's own alphabet can only be a typo.
        if not SECRET_NAME_RE.match(name):
            raise SecretNotFound(f"{name!r} is not a KMS secret name")
        attempt = 0
        while True:
            try:
                return self._call_once(name)
            except KmsUnavailable:
                if attempt >= self._retries:
                    raise
                attempt += 1
                self._sleep(self._backoff * attempt)

    def _call_once(self, name: str) -> str:
        from aliyunsdkcore.request import CommonRequest

        request = CommonRequest()
        request.set_domain(self._endpoint.host)
        request.set_version(API_VERSION)
        request.set_action_name(ACTION)
        request.add_query_param("SecretName", name)
        request.set_protocol_type(self._endpoint.scheme)  # https, unless a loopback http:// endpoint
        request.set_method("POST")
        request.set_accept_format("JSON")
        try:
            status, raw = send(
                self._client, request, connect_timeout=self._connect_timeout, read_timeout=self._read_timeout
            )
        except OSError as err:  # requests' exceptions are IOErrors: refused, reset, timed out
            raise KmsUnavailable(_unavailable(name, f"SDK.HttpError: {transport_reason(str(err))}")) from None
        return _secret_of(name, status, raw)


def _secret_of(name: str, status: int, raw: bytes | None) -> str:
    try:
        body: Any = jsonsafe.loads(raw or b"")
    except jsonsafe.BadJson:
        body = None
    if not isinstance(body, dict):
        if 200 <= status < 300:
            raise KmsUnavailable(_unavailable(name, "the answer is not a JSON object"))
        raise _classify(name, status, None, None)
    code = jsonsafe.field(body, "Code")
    if not 200 <= status < 300 or (isinstance(code, str) and code):
        raise _classify(name, status, code, jsonsafe.field(body, "Message"))
    data = jsonsafe.field(body, "SecretData")
    kind = jsonsafe.field(body, "SecretDataType")
    if kind not in (None, "text"):
        raise KmsBadAnswer(f"the secret {name} holds {kind} data; store the value as text")
    if not isinstance(data, str) or not data.strip():
        # Refused rather than cached: a warm instance would keep an empty value until it ends.
        raise KmsBadAnswer(f"the secret {name} has no text (SecretData is empty or missing)")
    return data


def _classify(name: str, status: int, code: Any, message: Any) -> KmsError:
    code = code.strip() if isinstance(code, str) else ""
    text = f"{code or f'HTTP {status}'}: {error_text(message or '')}".rstrip(": ")
    if code in NOT_FOUND_CODES or (not code and status == 404):
        return SecretNotFound(f"the secret {name} does not exist in KMS ({text})")
    if code.startswith(AUTH_PREFIXES) or status in (401, 403):
        return KmsAuthFailed(f"KMS refused to read {name} ({text}): the role needs kms:GetSecretValue on it")
    if code.startswith("Throttling") or code in TRANSIENT_CODES or status >= 500 or status == 429:
        return KmsUnavailable(_unavailable(name, text))
    return KmsBadAnswer(f"KMS did not give {name} ({text})")


def _unavailable(name: str, reason: str) -> str:
    return f"KMS could not be read for {name} ({reason}); the next tick tries again"


class SecretCache:
    """Secrets read by this instance, by (endpoint, name). A read happens under the lock, so threads
    asking at once (`taskwatch serve`) share one request; a failed read is not kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], str] = {}

    def get(self, key: tuple[str, str], read: Callable[[], str]) -> str:
        with self._lock:
            value = self._values.get(key)
            if value is None:
                value = read()
                self._values[key] = value
            return value


def endpoint_for(env: Mapping[str, str], region: str) -> Endpoint | None:
    """TASKWATCH_KMS_ENDPOINT, else the region's public endpoint; None without either."""
    raw = env.get(ENDPOINT_VARIABLE, "").strip()
    if raw:
        return parse_endpoint(raw, ENDPOINT_VARIABLE)
    return Endpoint("https", f"kms.{region}.aliyuncs.com") if REGION_RE.match(region) else None


def can_read(env: Mapping[str, str], context: Any = None) -> bool:
    """Whether a resolver could read secrets at all here (credentials and an endpoint)."""
    return load_credentials(env, context) is not None and endpoint_for(env, resolve_region(env, context)) is not None


def resolver(env: Mapping[str, str], context: Any, clients: ClientCache, timeouts: Timeouts) -> KmsResolver:
    """``${kms:Name}`` -> the secret's text, read with the function's credentials once per instance;
    a ConfigError naming the key path and the secret otherwise. Nothing is built or imported
    before the first reference."""
    secrets = clients.get("kms_secrets", "instance", SecretCache)

    def resolve(name: str, path: str) -> str:
        region = resolve_region(env, context)
        endpoint = endpoint_for(env, region)
        if endpoint is None:
            raise ConfigError(
                path, f"${{kms:{name}}}: reading it needs a region (TASKWATCH_REGION) or {ENDPOINT_VARIABLE}"
            )

        def read() -> str:
            credentials = load_credentials(env, context)
            if credentials is None:
                raise ConfigError(path, f"${{kms:{name}}}: reading it needs credentials: {NO_CREDENTIALS}")
            client = clients.get(
                "kms",
                (endpoint, region, credentials, timeouts),
                lambda: KmsClient(credentials, region, endpoint, timeouts),
            )
            try:
                return client.get_secret_value(name)
            except KmsError as err:
                raise ConfigError(path, f"${{kms:{name}}}: {err}") from None

        value = secrets.get((endpoint.url, name), read)
        register_secrets([value])  # again at every tick: the newest registered secrets are the ones kept
        return value

    return resolve
