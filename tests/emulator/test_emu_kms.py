"""The KMS fake: GetSecretValue over RPC, its signature check, and errors the real SDK can parse."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from helpers.creds import AK_ID, AK_SECRET, STS_TOKEN

from taskwatch_emulator import Emulator, ManualClock, rpc_signature, rpc_string_to_sign
from taskwatch_emulator.auth import pop_encode

SECRET = "https://oapi.dingtalk.com/robot/send?access_token=emuKmsToken1234"


def sdk_get(emu: Emulator, name: str = "robot-url", secret: str = AK_SECRET, token: str | None = STS_TOKEN) -> Any:
    """GetSecretValue through aliyunsdkcore's own request path (and its own error parsing)."""
    cred = StsTokenCredential(AK_ID, secret, token) if token else AccessKeyCredential(AK_ID, secret)
    client = AcsClient(region_id="cn-hangzhou", credential=cred, auto_retry=False, connect_timeout=2, timeout=2)
    request = CommonRequest()
    request.set_domain(emu.kms_endpoint.removeprefix("http://"))
    request.set_version("2016-01-20")
    request.set_action_name("GetSecretValue")
    request.add_query_param("SecretName", name)
    request.set_protocol_type("http")
    request.set_method("POST")
    return json.loads(client.do_action_with_exception(request))


def signed(emu: Emulator, **changes: str) -> dict[str, str]:
    """RPC parameters signed with the fake's own (independent) function."""
    params = {
        "Action": "GetSecretValue",
        "Version": "2016-01-20",
        "SecretName": "robot-url",
        "Format": "JSON",
        "AccessKeyId": AK_ID,
        "SecurityToken": STS_TOKEN,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(emu.kms.auth_clock())),
        **changes,
    }
    params["Signature"] = rpc_signature(AK_SECRET, rpc_string_to_sign("POST", params))
    return params


def post_form(emu: Emulator, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    body = urlencode(params).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    request = urllib.request.Request(emu.kms_endpoint + "/", body, headers, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:  # noqa: S310 - a loopback fake
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_rpc_string_to_sign_is_the_sdks() -> None:
    params = {"Action": "GetSecretValue", "SecretName": "a b*c~d/é:x", "Timestamp": "2026-01-01T00:00:00Z"}
    ours = rpc_string_to_sign("POST", params)
    assert ours == getattr(rpc_signature_composer, "__compose_string_to_sign")("POST", params)
    assert ours.startswith("POST&%2F&Action%3DGetSecretValue%26SecretName%3Da%2520b%252Ac~d%252F%25C3%25A9%253Ax")
    assert rpc_signature("s", ours) == getattr(rpc_signature_composer, "__get_signature")(ours, "s")
    assert (pop_encode(" "), pop_encode("*"), pop_encode("~")) == ("%20", "%2A", "~")


def test_a_good_signature_is_accepted(emu: Emulator) -> None:
    emu.kms.put_secret("robot-url", SECRET)
    body = sdk_get(emu)
    assert body["SecretName"] == "robot-url" and body["SecretData"] == SECRET and body["SecretDataType"] == "text"
    assert body["VersionId"] and body["RequestId"]
    assert emu.kms.reads == ["robot-url"] and emu.kms.count(method="POST") == 1
    # Parameters in a form body are read as well as in the query string.
    status, answer = post_form(emu, signed(emu))
    assert status == 200 and answer["SecretData"] == SECRET
    assert not emu.kms.errors


def test_a_signature_off_by_one_character_is_refused(emu: Emulator) -> None:
    emu.kms.put_secret("robot-url", SECRET)
    params = signed(emu)
    params["Signature"] = params["Signature"][:-2] + ("A" if params["Signature"][-2] != "A" else "B") + "="
    status, answer = post_form(emu, params)
    assert status == 400 and answer["Code"] == "SignatureDoesNotMatch"
    assert "server string to sign is:POST&%2F&" in answer["Message"]
    # The SDK signing with a secret one character off parses the answer into a ServerException
    # (its parser splits the message at ':' and would raise IndexError without the suffix).
    with pytest.raises(ServerException) as err:
        sdk_get(emu, secret=AK_SECRET[:-1] + "x")
    assert (err.value.get_http_status(), err.value.get_error_code()) == (400, "SignatureDoesNotMatch")
    assert emu.kms.reads == []


def test_a_missing_or_wrong_token_is_refused(emu: Emulator) -> None:
    emu.kms.put_secret("robot-url", SECRET)
    with pytest.raises(ServerException) as err:
        sdk_get(emu, token=None)
    assert err.value.get_error_code() == "MissingSecurityToken"
    status, answer = post_form(emu, signed(emu, SecurityToken="not-the-token"))
    assert (status, answer["Code"]) == (400, "InvalidSecurityToken.Mismatch")


def test_a_stale_timestamp_is_refused(emu: Emulator, clock: ManualClock) -> None:
    emu.kms.put_secret("robot-url", SECRET)
    clock.advance(16 * 60)  # the fake's clock is ahead: the SDK's real-time Timestamp is stale
    with pytest.raises(ServerException) as err:
        sdk_get(emu)
    assert err.value.get_error_code() == "InvalidTimeStamp.Expired"
    clock.advance(-16 * 60 + 14 * 60)
    assert sdk_get(emu)["SecretData"] == SECRET  # within 15 minutes


def test_unknown_secrets_actions_and_versions(emu: Emulator) -> None:
    with pytest.raises(ServerException) as err:
        sdk_get(emu, name="nope")
    assert (err.value.get_http_status(), err.value.get_error_code()) == (404, "Forbidden.ResourceNotFound")
    assert post_form(emu, signed(emu, Action="ListSecrets"))[0] == 404
    assert post_form(emu, signed(emu, Version="2015-01-01"))[1]["Code"] == "InvalidVersion"
    params = signed(emu)
    del params["Timestamp"]
    assert post_form(emu, params)[1]["Code"] == "IncompleteSignature"
    assert post_form(emu, signed(emu, AccessKeyId="LTAIunknown"))[1]["Code"] == "InvalidAccessKeyId.NotFound"
