"""Fake OpenSearch 2017-12-25 (ROA): GetFunctionTask and ListFunctionTasks.

Client settings that work (aliyunsdkcore 2.16.1)::

    client = AcsClient(region_id="cn-hangzhou",
                       credential=StsTokenCredential(ak, secret, token),   # or AccessKeyCredential
                       connect_timeout=2, timeout=2)
    req = CommonRequest(domain="127.0.0.1:PORT", version="2017-12-25", product="OpenSearch")
    req.set_protocol_type("http"); req.set_method("GET")
    req.set_uri_pattern("/v4/openapi/app-groups/[app]/functions/[fn]/instances/[inst]/tasks/[gen]")
    req.add_path_param("app", ...)  # etc.
    client.do_action_with_exception(req)

Clear HTTP_PROXY/HTTPS_PROXY (the SDK proxies even loopback) and ALIYUN_ACCESS_KEY_ID/SECRET
(they silently replace the credential) in the process that talks to the fake.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

from .auth import KeyRing, roa_signature, roa_string_to_sign
from .base import Clock, Request, Response, Service
from .faults import Fault
from .timeline import RawJson, Step, Task

API_VERSION = "2017-12-25"
_INSTANCES = re.compile(r"^/v4/openapi/app-groups/([^/]+)/functions/([^/]+)/instances/?$")
_ROUTE = re.compile(r"^/v4/openapi/app-groups/([^/]+)/functions/([^/]+)/instances/([^/]+)/tasks(?:/([^/]+))?/?$")


class OpenSearchFake(Service):
    name = "opensearch"

    def __init__(self, keys: KeyRing, clock: Clock, auth_clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.keys = keys
        self.auth_clock = auth_clock or clock
        # Seconds a request Date may differ from the auth clock; None disables the check.
        self.max_date_skew: float | None = 15 * 60
        self.verify_signature = True
        self.tasks: dict[tuple[str, str, str, str], Task] = {}
        self._instance_calls: dict[tuple[str, str, str], int] = {}
        self._order = 0
        # Answer styles seen in the docs and SDKs: "pascal" (RequestId, Result, Generation: the SDK
        # models) or "camel" (requestId, result, generation: the API doc's samples), for success
        # and error bodies alike; errors_as_200 answers errors with HTTP 200 and the error Code.
        self.key_style: str = "pascal"
        self.errors_as_200 = False
        # ListFunctionInstances lists every instance that has a task, plus these, minus the hidden.
        self.instances: set[tuple[str, str, str]] = set()
        self.hidden_instances: set[tuple[str, str, str]] = set()
        self.instance_listings = 0  # ListFunctionInstances calls answered

    # --- scripting ----------------------------------------------------------------------
    def add_task(
        self,
        app_group: str,
        function: str,
        instance: str,
        generation: int | str,
        steps: Sequence[Step] | None = None,
        *,
        run_id: str | None = None,
        start_time: float | None = None,
        appear_after_calls: int | None = None,
        appear_after_seconds: float | None = None,
        fields: Mapping[str, Any] | None = None,
        omit: Sequence[str] = (),
    ) -> Task:
        """Register (or replace) a task. ``steps`` defaults to one running step at 0 %.

        ``fields`` replace or add answer fields (``{"StartTime": 1795000000000000}``, a
        :class:`RawJson` for text JSON cannot otherwise carry); ``omit`` drops fields (``"Generation"``).
        """
        gen = str(generation)
        with self.lock:
            self._order += 1
            task = Task(
                app_group=app_group,
                function=function,
                instance=instance,
                generation=gen,
                steps=list(steps) if steps else [Step()],
                registered_at=self.clock(),
                run_id=run_id or f"run-{gen}",
                order=self._order,
                start_time=start_time,
                appear_after_calls=appear_after_calls,
                appear_after_seconds=appear_after_seconds,
                overrides=dict(fields or {}),
                omit=tuple(omit),
            )
            self.tasks[(app_group, function, instance, gen)] = task
        return task

    def set_task(
        self,
        app_group: str,
        function: str,
        instance: str,
        generation: int | str,
        status: str = "running",
        progress: int = 0,
        extend_info: Mapping[str, Any] | None = None,
    ) -> Task:
        """Fix a task's state now (keeps its start time if it existed)."""
        step = Step(status, progress, dict(extend_info or {}))
        with self.lock:
            old = self.tasks.get((app_group, function, instance, str(generation)))
            if old is not None:
                old.steps = [step]
                return old
        return self.add_task(app_group, function, instance, generation, [step])

    def remove_task(self, app_group: str, function: str, instance: str, generation: int | str) -> None:
        with self.lock:
            self.tasks.pop((app_group, function, instance, str(generation)), None)

    def add_instance(self, app_group: str, function: str, instance: str) -> None:
        """An instance ListFunctionInstances lists even without a task."""
        with self.lock:
            self.instances.add((app_group, function, instance))
            self.hidden_instances.discard((app_group, function, instance))

    def hide_instance(self, app_group: str, function: str, instance: str) -> None:
        """The instance is no longer listed (deleted); its tasks stay readable."""
        with self.lock:
            self.hidden_instances.add((app_group, function, instance))

    def listed_instances(self, app_group: str, function: str) -> list[str] | None:
        """What ListFunctionInstances lists, sorted (an instance whose only task has not appeared yet
        is not listed); None when the app group has no such function."""
        with self.lock:
            now = self.clock()
            known = {
                (t.app_group, t.function, t.instance)
                for t in self.tasks.values()
                if t.visible(now, self._instance_calls.get((t.app_group, t.function, t.instance), 0))
            } | self.instances
            if not any(a == app_group and f == function for a, f, _ in known):
                return None
            return sorted(i for a, f, i in known - self.hidden_instances if (a, f) == (app_group, function))

    # --- HTTP ---------------------------------------------------------------------------
    def extra_headers(self) -> dict[str, str]:
        return {"x-acs-request-id": _request_id()}

    def render_fault(self, fault: Fault, req: Request) -> Response:
        if fault.kind == "malformed":
            return Response(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        return self._styled(_error(fault.status, fault.code, fault.message))

    def _styled(self, resp: Response) -> Response:
        """The answer in the configured key style, and with errors as HTTP 200 if so configured."""
        status = 200 if self.errors_as_200 and resp.status >= 400 else resp.status
        if self.key_style == "pascal" and status == resp.status:
            return resp
        body = resp.body
        if self.key_style == "camel":
            # Numbers are kept as written, so that 1e400 stays 1e400 in the camelCase body too.
            raw = json.loads(body, parse_float=RawJson, parse_int=RawJson, parse_constant=RawJson)
            body = _encode(_camel(raw))
        return Response(status, body, resp.content_type, resp.headers)

    def handle(self, req: Request) -> Response:
        return self._styled(self._handle(req))

    def _handle(self, req: Request) -> Response:
        denied = self._authenticate(req)
        if denied is not None:
            return denied
        listing = _INSTANCES.match(req.path)
        if listing is not None and req.method == "GET":
            return self._list_instances(listing.group(1), listing.group(2), req)
        m = _ROUTE.match(req.path)
        if m is None or req.method != "GET":
            return _error(404, "InvalidApi.NotFound", f"Specified api is not found: {req.method} {req.path}")
        app, fn, inst, gen = m.groups()
        with self.lock:
            now = self.clock()
            ikey = (app, fn, inst)
            calls = self._instance_calls.get(ikey, 0)
            try:
                if gen is not None:
                    return self._get(app, fn, inst, gen, now, calls)
                return self._list(app, fn, inst, req, now, calls)
            finally:
                self._instance_calls[ikey] = calls + 1

    def _get(self, app: str, fn: str, inst: str, gen: str, now: float, calls: int) -> Response:
        task = self.tasks.get((app, fn, inst, gen))
        if task is None or not task.visible(now, calls):
            return _error(404, "Task.NotExist", f"Task {app}/{fn}/{inst}/{gen} does not exist.")
        return _ok({"Result": task.render(now)})

    def _list(self, app: str, fn: str, inst: str, req: Request, now: float, calls: int) -> Response:
        try:
            size = int(req.q("pageSize", "1") or 1)
            number = int(req.q("pageNumber", "1") or 1)
            start_ms = int(req.q("startTime", "0") or 0)
            end_ms = int(req.q("endTime", "0") or 0)
        except ValueError:
            return _error(400, "InvalidParameter", "pageSize, pageNumber, startTime and endTime must be integers.")
        if size < 1 or number < 1:
            return _error(400, "InvalidParameter", "pageSize and pageNumber must be >= 1.")
        status = req.q("status")
        found = [
            t
            for t in self.tasks.values()
            if (t.app_group, t.function, t.instance) == (app, fn, inst) and t.visible(now, calls)
        ]
        found.sort(key=Task.sort_key, reverse=True)
        if status:
            found = [t for t in found if t.current(now)[1].status == status]
        if start_ms or end_ms:
            found = [t for t in found if _in_range(t, now, start_ms, end_ms)]
        page = found[(number - 1) * size : number * size]
        return _ok({"TotalCount": len(found), "Result": [t.render(now) for t in page]})

    def _list_instances(self, app: str, fn: str, req: Request) -> Response:
        try:
            size = int(req.q("pageSize", "10") or 10)  # the real API's default page is 10
            number = int(req.q("pageNumber", "1") or 1)
        except ValueError:
            return _error(400, "InvalidParameter", "pageSize and pageNumber must be integers.")
        if size < 1 or number < 1:
            return _error(400, "InvalidParameter", "pageSize and pageNumber must be >= 1.")
        names = self.listed_instances(app, fn)
        with self.lock:
            self.instance_listings += 1
        if names is None:
            return _error(404, "Function.NotExist", f"Function {app}/{fn} does not exist.")
        page = names[(number - 1) * size : number * size]
        items = [{"InstanceName": name, "FunctionName": fn, "Status": "normal"} for name in page]
        return _ok({"TotalCount": len(names), "Result": items})

    def _authenticate(self, req: Request) -> Response | None:
        auth = req.header("Authorization") or ""
        m = re.fullmatch(r"acs ([^:]+):(.+)", auth)
        if m is None:
            return _error(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        key = self.keys.get(m.group(1))
        if key is None:
            return _error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        token = req.header("x-acs-security-token")
        if key.is_sts and not token:
            return _error(400, "MissingSecurityToken", "SecurityToken is mandatory for this action.")
        if token is not None and token != key.security_token:
            return _error(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken mismatch with the AccessKey.")
        if req.header("x-acs-version") not in (None, API_VERSION):
            return _error(400, "InvalidVersion", f"Specified version is not supported; use {API_VERSION}.")
        if self.max_date_skew is not None:
            try:
                sent = parsedate_to_datetime(req.header("Date") or "").timestamp()
            except (TypeError, ValueError):
                return _error(
                    400,
                    "InvalidTimeStamp.Format",
                    "Specified time stamp or date value is not well formatted.",
                )
            if abs(sent - self.auth_clock()) > self.max_date_skew:
                return _error(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        if self.verify_signature:
            sts = roa_string_to_sign(req.method, req.raw_path, req.query, req.headers)
            if roa_signature(key.secret, sts) != m.group(2):
                # The SDK splits this message on ':' to read our string to sign; without the
                # suffix it raises IndexError instead of a ServerException.
                msg = f"Specified signature is not matched with our calculation. server string to sign is:{sts}"
                return _error(400, "SignatureDoesNotMatch", msg)
        return None


def _in_range(task: Task, now: float, start_ms: int, end_ms: int) -> bool:
    started = task.start_time if task.start_time is not None else (task.appeared_at or now)
    ms = int(started * 1000)
    return (not start_ms or ms >= start_ms) and (not end_ms or ms <= end_ms)


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


RAW_MARK = "\x00raw:"


def _encode(body: Any) -> bytes:
    """JSON with every RawJson value (kept as a marked string) written verbatim."""
    text = json.dumps(body, default=lambda v: RAW_MARK + v.text if isinstance(v, RawJson) else str(v))
    return re.sub(r'"\\u0000raw:((?:[^"\\]|\\.)*)"', lambda m: json.loads(f'"{m.group(1)}"'), text).encode()


def _camel(data: Any) -> Any:
    if isinstance(data, dict):
        return {(k[:1].lower() + k[1:]): _camel(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_camel(v) for v in data]
    return data


def _ok(fields: dict[str, Any]) -> Response:
    body = {"RequestId": _request_id(), "Status": "OK", "HttpCode": 200, "Latency": 3, **fields}
    return Response(200, _encode(body), "application/json;charset=utf-8")


def _error(status: int, code: str, message: str) -> Response:
    body = {"RequestId": _request_id(), "HostId": "opensearch.emulator", "Code": code, "Message": message}
    return Response(status, _encode(body), "application/json;charset=utf-8")
