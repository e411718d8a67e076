"""Fake KMS Secrets Manager 2016-01-20 (RPC): ``GetSecretValue``.

An RPC request carries its parameters in the query string or in a form body, signed with
HMAC-SHA1 over the sorted, POP-encoded parameters (``auth.rpc_string_to_sign``). Client settings
that work (aliyunsdkcore 2.16.1)::

    req = CommonRequest(); req.set_domain("127.0.0.1:PORT"); req.set_version("2016-01-20")
    req.set_action_name("GetSecretValue"); req.add_query_param("SecretName", "robot-url")
    req.set_protocol_type("http"); req.set_method("POST")

Answers: ``{"SecretName", "SecretData", "SecretDataType": "text", "VersionId", "RequestId"}``; an
unknown secret is HTTP 404 ``Forbidden.ResourceNotFound``. A signature mismatch ends its message in
``server string to sign is:<ours>``, as the real service does: aliyunsdkcore splits that message
on ``:`` and would raise IndexError without it.
"""

from __future__ import annotations

import calendar
import json
import time
import uuid

from .auth import KeyRing, rpc_signature, rpc_string_to_sign
from .base import Clock, Request, Response, Service, parse_query
from .faults import Fault

API_VERSION = "2016-01-20"
ACTION = "GetSecretValue"
MAX_TIMESTAMP_SKEW = 15 * 60
REQUIRED = ("AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp")


class KmsFake(Service):
    name = "kms"

    def __init__(self, keys: KeyRing, clock: Clock, auth_clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.keys = keys
        self.auth_clock = auth_clock or clock
        self.secrets: dict[str, str] = {}
        self.reads: list[str] = []  # names of the secrets answered, in order

    def put_secret(self, name: str, value: str) -> None:
        with self.lock:
            self.secrets[name] = value

    def render_fault(self, fault: Fault, req: Request) -> Response:
        if fault.kind == "malformed":
            return Response(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        return _error(fault.status, fault.code, fault.message)

    def handle(self, req: Request) -> Response:
        params = {k: v or "" for k, v in req.query.items()}
        if "x-www-form-urlencoded" in (req.header("Content-Type") or "") and req.body:
            params.update({k: v or "" for k, v in parse_query(req.body.decode("utf-8", "replace")).items()})
        denied = self._authenticate(req.method, params)
        if denied is not None:
            return denied
        if params.get("Action") != ACTION:
            return _error(404, "InvalidAction.NotFound", f"Specified api is not found: {params.get('Action')}")
        if params.get("Version") != API_VERSION:
            return _error(400, "InvalidVersion", f"Specified version is not supported; use {API_VERSION}.")
        name = params.get("SecretName", "")
        with self.lock:
            value = self.secrets.get(name)
            if value is not None:
                self.reads.append(name)
        if value is None:
            return _error(404, "Forbidden.ResourceNotFound", f"The specified secret {name} is not found.")
        body = {
            "SecretName": name,
            "SecretData": value,
            "SecretDataType": "text",
            "VersionId": "v1",
            "RequestId": _request_id(),
        }
        return Response(200, json.dumps(body).encode(), "application/json;charset=utf-8")

    def _authenticate(self, method: str, params: dict[str, str]) -> Response | None:
        missing = [name for name in REQUIRED if not params.get(name)]
        if missing:
            return _error(
                400, "IncompleteSignature", f"The request signature does not conform: {missing[0]} is missing."
            )
        key = self.keys.get(params["AccessKeyId"])
        if key is None:
            return _error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        token = params.get("SecurityToken")
        if key.security_token is not None and not token:
            return _error(400, "MissingSecurityToken", "SecurityToken is mandatory for this action.")
        if token and token != key.security_token:
            return _error(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken mismatch with the AccessKey.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            return _error(400, "IncompleteSignature", "Only SignatureMethod HMAC-SHA1, SignatureVersion 1.0.")
        try:
            sent = calendar.timegm(time.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return _error(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        if abs(sent - self.auth_clock()) > MAX_TIMESTAMP_SKEW:
            return _error(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        string_to_sign = rpc_string_to_sign(method, params)
        if rpc_signature(key.secret, string_to_sign) != params["Signature"]:
            message = (
                f"Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            )
            return _error(400, "SignatureDoesNotMatch", message)
        return None


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _error(status: int, code: str, message: str) -> Response:
    body = {"RequestId": _request_id(), "HostId": "kms.emulator", "Code": code, "Message": message}
    return Response(status, json.dumps(body).encode(), "application/json;charset=utf-8")
