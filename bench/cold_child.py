"""One cold start of the benchmark: a fresh process that imports what one variant needs, then reports.

    python -I -S -B bench/cold_child.py VARIANT UNWANTED CODE_DIR [CODE_DIR ...]

VARIANT is a key of VARIANTS; UNWANTED is a comma list of top-level modules that the ``healthz``
variant reports if they got loaded; the CODE_DIRs go first on sys.path (like FC's /code). The
last stdout line is ``BENCH {json}``: the in-process import time, the module count, peak RSS and
what the variant adds. bench/cold_start.py times the whole process from the outside.

Standard library only, and nothing imported before the clock starts but ``sys`` and ``time``
(no ``__future__``, no ``typing``): every module this file loads counts in every variant alike,
the floor (``python``) included.
"""

import sys
import time

_T0 = time.perf_counter()

# An FC HTTP trigger event for GET /healthz, as bytes (json would be imported before the clock stops).
HEALTHZ_EVENT = (
    b'{"version": "v1", "rawPath": "/healthz", "body": "", "isBase64Encoded": false, '
    b'"headers": {"Host": "tw.cn-hangzhou.fcapp.run", "User-Agent": "bench", "Accept": "*/*"}, '
    b'"queryParameters": {}, "requestContext": {"accountId": "1234567890", '
    b'"domainName": "tw.cn-hangzhou.fcapp.run", "domainPrefix": "tw", '
    b'"http": {"method": "GET", "path": "/healthz", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"}, '
    b'"requestId": "bench-healthz", "time": "2026-11-19T00:00:00Z", "timeEpoch": "1795000000000"}}'
)


class HealthzContext:
    request_id = "bench-healthz"
    region = "cn-hangzhou"


def floor() -> object:
    return None


def import_requests() -> object:
    import requests  # noqa: F401

    return None


def import_sdks() -> object:
    import alibabacloud_oss_v2  # noqa: F401
    import aliyunsdkcore.client
    import aliyunsdkcore.request  # noqa: F401
    import requests  # noqa: F401

    return None


def import_index() -> object:
    import index  # noqa: F401

    return None


def import_tick() -> object:
    """What a timer tick imports, without network: the modules fc.handle_timer imports, the clients
    built from settings (their constructors import the SDKs), and the modules first used by a call."""
    import os

    import index  # noqa: F401
    from taskwatch.settings import load_settings
    from taskwatch.wiring import build_services

    build_services(load_settings(os.environ, None, in_fc=True))
    import aliyunsdkcore.acs_exception.exceptions
    import aliyunsdkcore.request  # noqa: F401
    import requests  # noqa: F401

    return None


def healthz() -> object:
    import index

    return index.handler(HEALTHZ_EVENT, HealthzContext())


VARIANTS = {
    "python": floor,
    "requests": import_requests,
    "sdk": import_sdks,
    "index": import_index,
    "index_tick": import_tick,
    "healthz": healthz,
}


def main() -> int:
    variant, unwanted, paths = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
    sys.path[:0] = paths
    answer = VARIANTS[variant]()
    import_s = time.perf_counter() - _T0
    import json
    import resource

    out: dict[str, object] = {
        "import_s": import_s,
        "modules": len(sys.modules),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if variant == "index_tick":
        out["taskwatch_modules"] = sorted(m for m in sys.modules if m.startswith("taskwatch"))
        # Only DingTalk is configured (settings_env): any other platform's module is dead weight.
        out["notifier_modules"] = sorted(m for m in sys.modules if m.startswith("taskwatch.notifiers"))
    if variant == "healthz" and isinstance(answer, dict):
        out["status"] = answer.get("statusCode")
        out["body"] = answer.get("body")
        out["sdk_loaded"] = sorted({m.partition(".")[0] for m in sys.modules} & set(unwanted))
    print("BENCH " + json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
