"""Fake OSS with path-style URLs ``http://127.0.0.1:PORT/<bucket>/<key>``.

Operations: GetObject, PutObject (``x-oss-forbid-overwrite``; CopyObject via
``x-oss-copy-source``), DeleteObject, HeadObject, ListObjectsV2. V4 signatures are fully
verified (set ``verify_signature = False`` to only check the key id and token).

Client settings that work (alibabacloud_oss_v2 1.4.1)::

    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, secret, token)
    cfg.region = "cn-hangzhou"                 # any region: it only goes into the V4 scope
    cfg.endpoint = "http://127.0.0.1:PORT"     # http:// keeps it plain HTTP
    cfg.use_path_style = True                  # automatic for an IP endpoint; needed for "localhost"
    cfg.retry_max_attempts = 1                 # default retries 5xx/timeouts 3 times
    client = oss.Client(cfg)

Objects live in ``objects[(bucket, key)] -> bytes``; tests may read or overwrite them directly.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from datetime import datetime, timezone
from email.utils import formatdate
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from .auth import KeyRing, oss_v4_canonical_request, oss_v4_signature, oss_v4_string_to_sign
from .base import Clock, Request, Response, Service
from .faults import Fault

_AUTH = re.compile(
    r"OSS4-HMAC-SHA256 Credential=(?P<ak>[^/,]+)/(?P<date>\d{8})/(?P<region>[^/]*)/(?P<product>[^/]*)"
    r"/aliyun_v4_request(?:,AdditionalHeaders=(?P<add>[^,]*))?,Signature=(?P<sig>[0-9a-f]+)"
)

_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


class OssFake(Service):
    name = "oss"

    def __init__(self, keys: KeyRing, clock: Clock, auth_clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.keys = keys
        self.auth_clock = auth_clock or clock
        self.verify_signature = True
        self.max_date_skew: float | None = 15 * 60
        self.buckets: set[str] = set()
        self.objects: dict[tuple[str, str], bytes] = {}
        self.content_types: dict[tuple[str, str], str] = {}
        self.modified: dict[tuple[str, str], float] = {}

    def create_bucket(self, name: str) -> None:
        # Same rule the SDK enforces client-side: a name it would refuse is a test bug.
        if not _BUCKET.fullmatch(name):
            raise ValueError(f"invalid OSS bucket name {name!r} (3-63 of a-z 0-9 -)")
        with self.lock:
            self.buckets.add(name)

    def keys_in(self, bucket: str, prefix: str = "") -> list[str]:
        with self.lock:
            return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Seed an object directly (no request is logged)."""
        self.create_bucket(bucket)
        with self.lock:
            self._store(bucket, key, data, content_type)

    # --- HTTP ---------------------------------------------------------------------------
    def extra_headers(self) -> dict[str, str]:
        return {"x-oss-request-id": _rid(), "Server": "AliyunOSS"}

    def render_fault(self, fault: Fault, req: Request) -> Response:
        if fault.kind == "malformed":
            # 200 with garbage: a GetObject client receives it as the object (a corrupt state
            # file); an XML-reading call (list) fails to parse it.
            return Response(200, b"<<<not xml, not json\x00\xff", "application/xml")
        return _error(fault.status, fault.code, fault.message, req)

    def handle(self, req: Request) -> Response:
        bucket, _, key = req.path.lstrip("/").partition("/")
        denied = self._authenticate(req, bucket, key)
        if denied is not None:
            return denied
        if not bucket:
            return _error(501, "NotImplemented", "ListBuckets is not supported by the emulator.", req)
        with self.lock:
            if bucket not in self.buckets:
                return _error(404, "NoSuchBucket", "The specified bucket does not exist.", req, bucket=bucket)
            if not key:
                if req.method == "GET" and req.q("list-type") == "2":
                    return self._list(bucket, req)
                return _error(501, "NotImplemented", f"{req.method} on a bucket is not supported.", req)
            if req.method in ("GET", "HEAD"):
                return self._get(bucket, key, req)
            if req.method == "PUT":
                return self._put(bucket, key, req)
            if req.method == "DELETE":
                self._drop(bucket, key)
                return Response(204)
        return _error(405, "MethodNotAllowed", "The specified method is not allowed.", req)

    def _authenticate(self, req: Request, bucket: str, key: str) -> Response | None:
        auth = req.header("Authorization")
        if not auth:
            return _error(403, "AccessDenied", "You have no right to access this object because of bucket acl.", req)
        m = _AUTH.fullmatch(auth)
        if m is None:
            return _error(400, "InvalidArgument", "Authorization header is invalid.", req)
        k = self.keys.get(m["ak"])
        token = req.header("x-oss-security-token")
        if k is None or (k.is_sts and not token):
            # Real OSS says this for an STS key id sent without its token as well.
            return _error(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
                req,
            )
        if token is not None and token != k.security_token:
            return _error(403, "InvalidSecurityToken", "The security token you provided is invalid.", req)
        date = req.header("x-oss-date") or ""
        if self.max_date_skew is not None:
            try:
                sent = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
            except ValueError:
                return _error(403, "AccessDenied", "x-oss-date is missing or malformed.", req)
            if abs(sent - self.auth_clock()) > self.max_date_skew:
                return _error(
                    403,
                    "RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large.",
                    req,
                )
        if self.verify_signature:
            add = [h for h in (m["add"] or "").split(";") if h]
            canon = oss_v4_canonical_request(req.method, bucket or None, key or None, req.raw_query, req.headers, add)
            scope = f"{m['date']}/{m['region']}/{m['product']}/aliyun_v4_request"
            sts = oss_v4_string_to_sign(date, scope, canon)
            if oss_v4_signature(k.secret, m["date"], m["region"], m["product"], sts) != m["sig"]:
                return _error(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided.",
                    req,
                    StringToSign=sts,
                    CanonicalRequest=canon,
                )
        return None

    def _store(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self.objects[(bucket, key)] = data
        self.content_types[(bucket, key)] = content_type
        self.modified[(bucket, key)] = self.clock()

    def _drop(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)
        self.content_types.pop((bucket, key), None)
        self.modified.pop((bucket, key), None)

    def _meta(self, bucket: str, key: str) -> dict[str, str]:
        data = self.objects[(bucket, key)]
        return {
            "ETag": _etag(data),
            "Last-Modified": formatdate(self.modified.get((bucket, key), self.clock()), usegmt=True),
            "x-oss-object-type": "Normal",
            "x-oss-storage-class": "Standard",
        }

    def _get(self, bucket: str, key: str, req: Request) -> Response:
        if (bucket, key) not in self.objects:
            return _error(404, "NoSuchKey", "The specified key does not exist.", req, Key=key)
        ctype = self.content_types.get((bucket, key), "application/octet-stream")
        return Response(200, self.objects[(bucket, key)], ctype, self._meta(bucket, key))

    def _put(self, bucket: str, key: str, req: Request) -> Response:
        body = req.body
        ctype = req.header("Content-Type") or "application/octet-stream"
        source = req.header("x-oss-copy-source")
        if source is not None:
            sb, _, sk = unquote(source).lstrip("/").partition("/")
            if (sb, sk) not in self.objects:
                return _error(404, "NoSuchKey", "The specified key does not exist.", req, Key=sk)
            body, ctype = self.objects[(sb, sk)], self.content_types.get((sb, sk), ctype)
        if (req.header("x-oss-forbid-overwrite") or "").lower() == "true" and (bucket, key) in self.objects:
            return _error(
                409,
                "FileAlreadyExists",
                "The object you specified already exists and can not be overwritten.",
                req,
            )
        self._store(bucket, key, body, ctype)
        if source is not None:
            xml = (
                f"<CopyObjectResult><ETag>{escape(_etag(body))}</ETag>"
                f"<LastModified>{_iso(self.clock())}</LastModified></CopyObjectResult>"
            )
            return Response(200, _xml(xml), "application/xml", {"ETag": _etag(body)})
        return Response(200, b"", None, {"ETag": _etag(body)})

    def _list(self, bucket: str, req: Request) -> Response:
        prefix = req.q("prefix", "") or ""
        delimiter = req.q("delimiter", "") or ""
        max_keys = min(int(req.q("max-keys", "100") or 100), 1000)
        token = req.q("continuation-token")
        after = base64.urlsafe_b64decode(token).decode() if token else (req.q("start-after", "") or "")
        url = req.q("encoding-type") == "url"

        def enc(s: str) -> str:
            return escape(quote(s, safe="/") if url else s)

        entries: list[tuple[str, bool]] = []  # (key or common prefix, is_prefix)
        for k in sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix) and k > after):
            if delimiter and delimiter in k[len(prefix) :]:
                cp = k[: len(prefix) + k[len(prefix) :].index(delimiter) + len(delimiter)]
                if not entries or entries[-1] != (cp, True):
                    entries.append((cp, True))
            else:
                entries.append((k, False))
        page, truncated = entries[:max_keys], len(entries) > max_keys
        parts = [f"<Name>{escape(bucket)}</Name><Prefix>{enc(prefix)}</Prefix><MaxKeys>{max_keys}</MaxKeys>"]
        if delimiter:
            parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
        if url:
            parts.append("<EncodingType>url</EncodingType>")
        parts.append(f"<IsTruncated>{str(truncated).lower()}</IsTruncated><KeyCount>{len(page)}</KeyCount>")
        if truncated:
            # A key inside a common prefix resumes after the whole prefix.
            last, is_prefix = page[-1]
            resume = last + "\U0010ffff" if is_prefix else last
            parts.append(
                f"<NextContinuationToken>{base64.urlsafe_b64encode(resume.encode()).decode()}</NextContinuationToken>"
            )
        for name, is_prefix in page:
            if is_prefix:
                parts.append(f"<CommonPrefixes><Prefix>{enc(name)}</Prefix></CommonPrefixes>")
                continue
            data = self.objects[(bucket, name)]
            parts.append(
                f"<Contents><Key>{enc(name)}</Key>"
                f"<LastModified>{_iso(self.modified.get((bucket, name), 0))}</LastModified>"
                f"<ETag>{escape(_etag(data))}</ETag><Type>Normal</Type><Size>{len(data)}</Size>"
                "<StorageClass>Standard</StorageClass></Contents>"
            )
        return Response(200, _xml("<ListBucketResult>" + "".join(parts) + "</ListBucketResult>"), "application/xml")


def _rid() -> str:
    return uuid.uuid4().hex[:24].upper()


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest().upper() + '"'  # noqa: S324 - OSS ETags are MD5


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _xml(inner: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + inner).encode()


def _error(status: int, code: str, message: str, req: Request, **extra: str) -> Response:
    rid = _rid()
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in extra.items())
    body = _xml(
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message><RequestId>{rid}</RequestId>"
        f"<HostId>oss.emulator</HostId>{fields}</Error>"
    )
    headers = {"x-oss-request-id": rid}
    if req.method == "HEAD":
        # HEAD answers carry no body; OSS puts the error XML base64-encoded in x-oss-err.
        headers["x-oss-err"] = base64.b64encode(body).decode()
    return Response(status, body, "application/xml", headers)
