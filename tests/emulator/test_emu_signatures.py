"""Pure signature functions against the published vectors (docs/service-facts.md)."""

from __future__ import annotations

from taskwatch_emulator import dingtalk_sign, roa_signature, roa_string_to_sign

PATH = "/v4/openapi/app-groups/my_app/functions/rec/instances/inst1/tasks/1700000000"
HEADERS = {
    "Accept": "application/json",
    "Date": "Thu, 01 Jan 2026 00:00:00 GMT",
    "x-acs-region-id": "cn-hangzhou",
    "x-acs-security-token": "TestSecurityToken",
    "x-acs-signature-method": "HMAC-SHA1",
    "x-acs-signature-version": "1.0",
    "x-acs-version": "2017-12-25",
}


def test_roa_vector_get() -> None:
    sts = roa_string_to_sign("GET", PATH, {"RegionId": "cn-hangzhou"}, HEADERS)
    assert sts.startswith("GET\napplication/json\n\n\nThu, 01 Jan 2026 00:00:00 GMT\nx-acs-region-id:cn-hangzhou\n")
    assert sts.endswith(PATH + "?RegionId=cn-hangzhou")
    assert roa_signature("TestAccessKeySecret", sts) == "XA/42lL5XkX2pBIKkjxy/QERlWo="


def test_roa_vector_list_query_sorted_raw() -> None:
    query = {"RegionId": "cn-hangzhou", "status": "success", "pageSize": "10", "pageNumber": "1"}
    sts = roa_string_to_sign("GET", PATH, query, HEADERS)
    assert sts.endswith("?RegionId=cn-hangzhou&pageNumber=1&pageSize=10&status=success")
    assert roa_signature("TestAccessKeySecret", sts) == "7bcf+ACJa8TEPSmXpEkF5HJvBMg="


def test_roa_header_names_case_insensitive() -> None:
    shouted = {k.upper() if k.startswith("x-") else k.lower(): v for k, v in HEADERS.items()}
    assert roa_string_to_sign("GET", PATH, {"RegionId": "cn-hangzhou"}, shouted) == roa_string_to_sign(
        "GET", PATH, {"RegionId": "cn-hangzhou"}, HEADERS
    )


def test_roa_bare_query_key() -> None:
    assert roa_string_to_sign("GET", "/p", {"b": "1", "a": None}, {}).endswith("/p?a&b=1")


def test_dingtalk_vector() -> None:
    assert dingtalk_sign("this is secret", 1700000000000) == "sSFWELbV2YwjdDQhWZwTcWlX5BWUx5J6TPpsZmuPii0="
