"""Where state and delivery claims live: a small object store with create-only writes.

Object names are relative to the configured location: ``state.json``, ``claims/<change id>``,
``corrupt/state-<ms>.json``. ``put(..., create_only=True)`` is the one atomic primitive the
delivery protocol needs (OSS: ``x-oss-forbid-overwrite``; files: ``O_EXCL``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .causes import transport_reason
from .ports import StateStore, StoreError

__all__ = ["FileStore", "OssStore", "StateStore", "StoreError", "open_store"]  # the errors are the port's
from .settings import Credentials, Settings, StateLocation

CONNECT_TIMEOUT_S = 3
READWRITE_TIMEOUT_S = 8
PUT_ATTEMPTS = 2  # the SDK would retry PUTs 3 times by default; one retry is enough within a tick
OSS_MIN_POOL = 20  # the SDK's default pool size; never keep fewer connections than it would


class FileStore:
    def __init__(self, directory: str) -> None:
        self._root = Path(directory)

    def _path(self, name: str) -> Path:
        return self._root.joinpath(*name.split("/"))

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StoreError(f"cannot read {self._path(name)}: {err.strerror}") from None

    def put(self, name: str, data: bytes, *, create_only: bool = False) -> bool:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if create_only:
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    return False
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                return True
            # Write to a temporary file and rename: a crash never leaves half a state file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
            return True
        except OSError as err:
            raise StoreError(f"cannot write {path}: {err.strerror}") from None

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as err:
            raise StoreError(f"cannot delete {self._path(name)}: {err.strerror}") from None


class OssStore:
    """State in OSS through alibabacloud-oss-v2 (V4 signatures)."""

    def __init__(self, settings: Settings, credentials: Credentials) -> None:
        import alibabacloud_oss_v2 as oss

        location = settings.state
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
            credentials.access_key_id, credentials.access_key_secret, credentials.security_token or ""
        )
        cfg.region = settings.region
        if settings.oss_endpoint is not None:
            cfg.endpoint = settings.oss_endpoint.url
            # An IP or localhost has no bucket sub-domains: address the bucket in the path.
            cfg.use_path_style = settings.oss_endpoint.is_local
        else:
            cfg.use_internal_endpoint = settings.oss_internal
        cfg.retry_max_attempts = PUT_ATTEMPTS
        # The transport carries the timeouts. The SDK's own keeps at most 20 idle connections and
        # drops the rest after each call; a tick writes claims with TASKWATCH_CONCURRENCY threads,
        # so with more threads than that a warm instance would open (and pay a TLS handshake for)
        # the excess again on every tick.
        cfg.http_client = oss.transport.RequestsHttpClient(
            connect_timeout=CONNECT_TIMEOUT_S,
            readwrite_timeout=READWRITE_TIMEOUT_S,
            max_connections=max(settings.concurrency, OSS_MIN_POOL),
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


def open_store(settings: Settings) -> StateStore:
    if settings.state.scheme == "file":
        return FileStore(settings.state.path)
    if settings.credentials is None:
        raise StoreError("OSS state needs credentials")
    return OssStore(settings, settings.credentials)
