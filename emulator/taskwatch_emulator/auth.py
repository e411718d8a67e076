"""Credentials known to the fakes and the pure signature functions they verify with.

Kept free of HTTP so the published signature vectors can be checked directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret: str
    security_token: str | None = None

    @property
    def is_sts(self) -> bool:
        # Alibaba Cloud marks temporary (STS) key ids with this prefix; such keys need the token.
        return self.access_key_id.startswith("STS.")


class KeyRing:
    """AccessKey pairs accepted by OpenSearch and OSS fakes (shared, like one RAM account)."""

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        self._lock = threading.Lock()
        self._keys = {k.access_key_id: k for k in keys}

    def add(self, access_key_id: str, secret: str, security_token: str | None = None) -> Key:
        key = Key(access_key_id, secret, security_token)
        with self._lock:
            self._keys[access_key_id] = key
        return key

    def get(self, access_key_id: str) -> Key | None:
        with self._lock:
            return self._keys.get(access_key_id)


def _header(headers: Mapping[str, str], name: str) -> str:
    low = name.lower()
    for k, v in headers.items():
        if k.lower() == low:
            return v
    return ""


def roa_string_to_sign(method: str, path: str, query: Mapping[str, str | None], headers: Mapping[str, str]) -> str:
    """ROA (HMAC-SHA1) string to sign, as aliyunsdkcore's roa_signature_composer builds it.

    ``path`` is the undecoded request path; ``query`` values are raw (not URL-encoded); a value
    of ``None`` stands for a bare ``key`` without ``=``.
    """
    parts = [method.upper()] + [_header(headers, h) for h in ("Accept", "Content-MD5", "Content-Type", "Date")]
    out = "\n".join(parts) + "\n"
    acs = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-acs-"))
    out += "".join(f"{k}:{v}\n" for k, v in acs)
    out += path
    if query:
        out += "?" + "&".join(k if v is None else f"{k}={v}" for k, v in sorted(query.items()))
    return out


def roa_signature(secret: str, string_to_sign: str) -> str:
    mac = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def dingtalk_sign(secret: str, timestamp_ms: int | str) -> str:
    """Raw (not URL-encoded) base64 DingTalk robot signature."""
    msg = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


def oss_v4_canonical_request(
    method: str,
    bucket: str | None,
    key: str | None,
    raw_query: str,
    headers: Mapping[str, str],
    additional_headers: list[str],
) -> str:
    """OSS V4 canonical request, mirroring alibabacloud_oss_v2.signer.v4 (path-style or not,
    the canonical URI is always ``/bucket/key``)."""
    uri = "/"
    if bucket:
        uri += bucket + "/"
    if key:
        uri += key
    pairs = sorted(p.partition("=")[::2] for p in raw_query.split("&") if p)
    canonical_query = "&".join(f"{k}={v}" if v else k for k, v in pairs)
    low = {k.lower(): v for k, v in headers.items()}
    signed = sorted(
        (k, v)
        for k, v in low.items()
        if k.startswith("x-oss-") or k in ("content-type", "content-md5") or k in additional_headers
    )
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in signed)
    payload = low.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    return "\n".join(
        [
            method.upper(),
            quote(uri, safe="/"),
            canonical_query,
            canonical_headers,
            ";".join(additional_headers),
            payload,
        ]
    )


def oss_v4_signature(secret: str, date: str, region: str, product: str, string_to_sign: str) -> str:
    k = ("aliyun_v4" + secret).encode()
    for part in (date, region, product, "aliyun_v4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()


def oss_v4_string_to_sign(datetime_iso: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"OSS4-HMAC-SHA256\n{datetime_iso}\n{scope}\n{digest}"
