"""Fake credentials: the cloud key a test signs with, the DingTalk robot's, and the HTTP token.

Each secret is long and shares no 12 characters with another, so a test can assert that no form
of one reaches a log line, an answer or a message, and a masked piece of one never hides another.
"""

from __future__ import annotations

from dataclasses import dataclass

AK_ID = "STS.NTestAccessKeyId"  # STS keys start with "STS." and need a security token
AK_SECRET = "ak-secret-Zq8w7e6r5t4y3u2i"
STS_TOKEN = "sts-token-Pl0Ok9Ij8Uh7Yg6Tf5"
PLAIN_AK_ID = "LTAITestPlainAccessKeyId"  # a RAM user's own key: no security token
DINGTALK_SECRET = "SECdingsecret4f5g6h7j8k9l0"  # the robot's signing secret
WEBHOOK_TOKEN = "webhooktoken1Mn2Bv3Cx4Zl5Kj6"  # the robot webhook's access_token
HTTP_TOKEN = "tw-http-token-0123456789"  # TASKWATCH_HTTP_TOKEN; the bearer token in tests/events/*.json

CREDENTIAL_ENV = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN")


@dataclass
class Credentials:
    """What FC's python3.10 runtime puts in ``context.credentials``."""

    access_key_id: str = AK_ID
    access_key_secret: str = AK_SECRET
    security_token: str = STS_TOKEN


def cloud_env(key_id: str = AK_ID, secret: str = AK_SECRET, token: str | None = STS_TOKEN) -> dict[str, str]:
    """The ALIBABA_CLOUD_* variables FC's python3.12 runtime sets for a key (no token: a plain key)."""
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret}
    if token is not None:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = token
    return env
