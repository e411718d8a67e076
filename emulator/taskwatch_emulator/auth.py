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


def pop_encode(value: str) -> str:
    """POP percent-encoding (UTF-8): letters, digits and ``-_.~`` kept, everything else ``%XX``,
    so a space is ``%20`` and ``*`` is ``%2A``."""
    return quote(value, safe="-_.~")


def rpc_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """RPC (HMAC-SHA1) string to sign: every parameter but ``Signature``, sorted by name, each
    name and value encoded, joined, and the whole encoded once more."""
    canonical = "&".join(f"{pop_encode(k)}={pop_encode(v)}" for k, v in sorted(params.items()) if k != "Signature")
    return f"{method.upper()}&{pop_encode('/')}&{pop_encode(canonical)}"


def rpc_signature(secret: str, string_to_sign: str) -> str:
    """base64(HMAC-SHA1(secret + "&", string_to_sign)): the ``&`` is where an RPC signature's
    second key part would go; Alibaba Cloud always leaves it empty."""
    mac = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def dingtalk_sign(secret: str, timestamp_ms: int | str) -> str:
    """Raw (not URL-encoded) base64 DingTalk robot signature."""
    msg = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


def feishu_sign(secret: str, timestamp_s: int | str) -> str:
    """Base64 Feishu/Lark custom bot signature (sent in the body as ``sign``).

    Unlike DingTalk, the string to sign is the HMAC *key* and the message is empty.
    """
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


STANDARD_WEBHOOK_PREFIX = "whsec_"


def standard_webhook_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64-decoded part after ``whsec_``.

    Raises ``ValueError`` when that part is not base64.
    """
    raw = secret[len(STANDARD_WEBHOOK_PREFIX) :] if secret.startswith(STANDARD_WEBHOOK_PREFIX) else secret
    return base64.b64decode(raw, validate=True)


def standard_webhook_sign(secret: str, msg_id: str, timestamp: int | str, body: bytes | str) -> str:
    """One ``webhook-signature`` entry: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""
    payload = body.encode() if isinstance(body, str) else body
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    mac = hmac.new(standard_webhook_key(secret), signed, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


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
