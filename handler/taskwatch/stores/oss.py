"""State in OSS through alibabacloud-oss-v2 (V4 signatures); create-only is ``x-oss-forbid-overwrite``."""

from __future__ import annotations

from typing import Any

from ..causes import transport_reason
from ..ports import StoreError, Timeouts
from ..setting_values import Credentials, Endpoint, StateLocation

OSS_MIN_POOL = 20  # the SDK's default pool size; never keep fewer connections than it would


class OssStore:
    """State in OSS through alibabacloud-oss-v2 (V4 signatures)."""

    def __init__(
        self,
        location: StateLocation,
        *,
        region: str,
        endpoint: Endpoint | None,
        internal: bool,
        credentials: Credentials,
        pool_size: int,
        timeouts: Timeouts,
    ) -> None:
        import alibabacloud_oss_v2 as oss

        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
            credentials.access_key_id, credentials.access_key_secret, credentials.security_token or ""
        )
        cfg.region = region
        if endpoint is not None:
            cfg.endpoint = endpoint.url
            # An IP or localhost has no bucket sub-domains: address the bucket in the path.
            cfg.use_path_style = endpoint.is_local
        else:
            cfg.use_internal_endpoint = internal
        cfg.retry_max_attempts = timeouts.oss_attempts
        # The transport carries the timeouts. The SDK's own keeps at most 20 idle connections and
        # drops the rest after each call; a tick writes claims with TASKWATCH_CONCURRENCY threads,
        # so with more threads than that a warm instance would open (and pay a TLS handshake for)
        # the excess again on every tick.
        cfg.http_client = oss.transport.RequestsHttpClient(
            connect_timeout=timeouts.oss_connect,
            readwrite_timeout=timeouts.oss_readwrite,
            max_connections=max(pool_size, OSS_MIN_POOL),
        )
        self._oss: Any = oss
        self._client = oss.Client(cfg)
        self._location: StateLocation = location

    def _key(self, name: str) -> str:
        return self._location.prefix + name

    def get(self, name: str) -> bytes | None:
        oss = self._oss
        try:
            result = self._client.get_object(oss.GetObjectRequest(bucket=self._location.bucket, key=self._key(name)))
            with result.body as body:
                data: bytes = body.read()
        except Exception as err:
            if _service_code(err) == "NoSuchKey":
                return None
            raise StoreError(f"OSS GetObject {self._key(name)}: {_describe(err)}") from None
        _check_answer(result, f"OSS GetObject {self._key(name)}")
        return data

    def put(self, name: str, data: bytes, *, create_only: bool = False) -> bool:
        oss = self._oss
        request = oss.PutObjectRequest(
            bucket=self._location.bucket,
            key=self._key(name),
            body=data,
            content_type="application/json",
            forbid_overwrite=create_only or None,
        )
        try:
            result = self._client.put_object(request)
        except Exception as err:
            if create_only and _service_code(err) == "FileAlreadyExists":
                return False
            raise StoreError(f"OSS PutObject {self._key(name)}: {_describe(err)}") from None
        _check_answer(result, f"OSS PutObject {self._key(name)}")
        return True

    def delete(self, name: str) -> None:
        oss = self._oss
        try:
            self._client.delete_object(oss.DeleteObjectRequest(bucket=self._location.bucket, key=self._key(name)))
        except Exception as err:
            raise StoreError(f"OSS DeleteObject {self._key(name)}: {_describe(err)}") from None


def _check_answer(result: Any, what: str) -> None:
    """OSS answers every successful GetObject and PutObject with an ETag. A 200 without one came from
    something else on the way (a proxy or captive portal): its body is not the object (reading it
    as state would look like corruption) and a PUT it "accepted" was never stored (a claim that is
    not there would let a second tick send the same change). Either way the call failed."""
    if not getattr(result, "etag", None):
        raise StoreError(f"{what}: HTTP 200 without an ETag, not an answer from OSS")


def _unwrap(err: BaseException) -> BaseException:
    inner = getattr(err, "unwrap", None)
    return inner() if callable(inner) else err


def _service_code(err: BaseException) -> str | None:
    code = getattr(_unwrap(err), "code", None)
    return code if isinstance(code, str) else None


def _describe(err: BaseException) -> str:
    inner = _unwrap(err)
    code = getattr(inner, "code", None)
    status = getattr(inner, "status_code", None)
    if isinstance(code, str):
        return f"{code} (HTTP {status})"
    # Transport errors: the kind and the reason at the end of the text, not the whole text (it
    # can carry signed URLs).
    return f"{type(inner).__name__}: {transport_reason(str(inner))}"
