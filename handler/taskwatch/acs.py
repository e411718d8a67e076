"""aliyunsdkcore, set up the one way every Alibaba Cloud API taskwatch calls needs it (OpenSearch's
ROA calls, KMS's RPC ones).

SDK pitfalls handled here: ALIYUN_ACCESS_KEY_* in the environment would replace our credential and
drop the STS token; the SDK sends through HTTP(S)_PROXY even to loopback; its own error parsing
crashes on some bodies and logs the string to sign (with the STS token) at ERROR. The SDK is
imported inside the functions, so a module that imports this one does not pay for it.
"""

from __future__ import annotations

import logging
from typing import Any

from .causes import shorten
from .setting_values import Credentials

# The SDK logs every ServerException at ERROR; the adapters log their own one-line cause instead.
logging.getLogger("aliyunsdkcore").setLevel(logging.CRITICAL)


def acs_client(
    credentials: Credentials, region: str, *, connect_timeout: float, read_timeout: float, pool_size: int
) -> Any:
    """An AcsClient that signs with ``credentials`` (and their STS token), never retries by itself
    and uses no proxy."""
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
    client = AcsClient(
        region_id=region,
        credential=StsTokenCredential("unused", "unused", "unused"),
        auto_retry=False,
        connect_timeout=connect_timeout,
        timeout=read_timeout,
        pool_size=pool_size,
        # A truthy mapping that names no scheme: the SDK then uses no proxy at all instead of
        # HTTP(S)_PROXY, which it would apply even to loopback and private endpoints.
        proxy={"none": ""},
    )
    # The SDK picks ALIYUN_ACCESS_KEY_ID/_SECRET from the environment over the credential it is
    # given (and then sends no STS token); setting the signer ourselves makes ours win.
    client._signer = signer
    return client


def send(client: Any, request: Any, *, connect_timeout: float, read_timeout: float) -> tuple[int, bytes | None]:
    """Sign and send ``request`` (a CommonRequest); its HTTP status and body, read by the caller.

    OSError (refused, reset, timed out: requests' exceptions are IOErrors) is the caller's to map.
    """
    http = client._make_http_response(request.endpoint, request, read_timeout, connect_timeout)
    status, _, raw = http.get_response_object()
    return int(status), raw


def error_text(message: Any) -> str:
    """The first line of a service's error message, shortened; a signature error's echo of the
    string to sign (security token included) is never kept."""
    text = str(message).split("server string to sign", 1)[0].strip()
    return shorten(text.splitlines()[0]) if text else ""
