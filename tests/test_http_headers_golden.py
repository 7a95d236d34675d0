"""http_headers against the MDN HTTP Observatory's own grader table and unit tests (as data).

The expected values come from the reference, never from intgkit: tests/data/
observatory_score_table.toml is the Observatory's SCORE_TABLE (src/grader/charts.js) and
tests/data/observatory_cases.toml re-expresses the cases of its test/*.test.js files (the 12
tests' and the CSP parser's); each data file's header names the source files and commits.
The cases run against the pure test and parser functions, on the state the reference's
emptyRequests() helper builds, with no network.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intgkit.integrations.http_headers import RESULTS
from intgkit.integrations.http_headers._cookies import cookies_test
from intgkit.integrations.http_headers._cors import cors_test
from intgkit.integrations.http_headers._cross_origin_policies import coep_test, coop_test, corp_test
from intgkit.integrations.http_headers._csp import csp_test
from intgkit.integrations.http_headers._csp_parser import DUPLICATES_KEY, CspError, parse_csp
from intgkit.integrations.http_headers._grader import severity_for
from intgkit.integrations.http_headers._hsts import hsts_test
from intgkit.integrations.http_headers._outcome import Outcome
from intgkit.integrations.http_headers._redirection import redirection_test
from intgkit.integrations.http_headers._referrer_policy import referrer_test
from intgkit.integrations.http_headers._retriever import Response, Retrieval, Session
from intgkit.integrations.http_headers._sri import sri_test
from intgkit.integrations.http_headers._x_content_type_options import xcto_test
from intgkit.integrations.http_headers._x_frame_options import xfo_test

DATA = Path(__file__).parent / "data"
TABLE = tomllib.loads((DATA / "observatory_score_table.toml").read_text(encoding="utf-8"))["result"]
CASES = tomllib.loads((DATA / "observatory_cases.toml").read_text(encoding="utf-8"))
FIXTURES: dict[str, str] = CASES["fixtures"]
TESTS = (
    "content-security-policy",
    "cookies",
    "cross-origin-resource-sharing",
    "redirection",
    "referrer-policy",
    "strict-transport-security",
    "subresource-integrity",
    "x-content-type-options",
    "x-frame-options",
    "cross-origin-resource-policy",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
)
# emptyRequests() in the reference's test/helpers.js
HTTP_ROUTE = [("http://mozilla.org/", 301), ("https://mozilla.org/", 301), ("https://www.mozilla.org/", 200)]
HTTPS_ROUTE = [("https://mozilla.org/", 301), ("https://www.mozilla.org/", 200)]


def requests(case: dict[str, Any]) -> Retrieval:
    """The reference's emptyRequests() state with the case's changes applied."""
    body = FIXTURES[case["html"]] if "html" in case else case.get("body", "")
    raw = [("Content-Type", case.get("content_type", "text/html"))]
    raw += [(name, value) for name, value in case.get("headers", [])]
    raw += [("Set-Cookie", line) for line in case.get("cookies", [])]
    status = case.get("status", 200)
    https = Session("https://mozilla.org/", history=list(HTTPS_ROUTE))
    if case.get("https", True):
        verified = case.get("https_verified", True)
        https.response = Response("https://www.mozilla.org/", status, list(raw), body, verified)
        https.verified = verified
    http = Session("http://mozilla.org/")
    if case.get("http", True):
        http.history = [(url, code) for url, code in case.get("http_route", HTTP_ROUTE)]
        # the HTTP response is a copy of the judged one (emptyRequests clones it)
        http.response = Response(http.history[-1][0], status, list(raw), body, True)
    judged = https if https.response is not None else http
    judged.store_cookies(judged.start, case.get("cookies", []))
    cors_raw = [(name, value) for name, value in case.get("cors_headers", [])]
    cors = Response("https://www.mozilla.org/", 200, cors_raw, "", True)
    return Retrieval(
        host=case.get("host", "mozilla.org"),
        http=http,
        https=https,
        cors=cors,
        preload=frozenset(case.get("preload", [])),
    )


def _csp(r: Retrieval) -> Outcome:
    return csp_test(r)[0]


def _xfo(r: Retrieval) -> Outcome:
    return xfo_test(r, csp_test(r)[1])


def _cookies(r: Retrieval) -> Outcome:
    return cookies_test(r, hsts_test(r))


def _cors(r: Retrieval) -> Outcome:
    # the reference's unit tests put the Origin it sends on the request object, which its scans
    # of real sites cannot see; strict=True applies the rule as those tests do
    return cors_test(r, strict=True)


RUN: dict[str, Callable[[Retrieval], Outcome]] = {
    "content-security-policy": _csp,
    "cookies": _cookies,
    "cross-origin-resource-sharing": _cors,
    "redirection": redirection_test,
    "referrer-policy": referrer_test,
    "strict-transport-security": hsts_test,
    "subresource-integrity": sri_test,
    "x-content-type-options": xcto_test,
    "x-frame-options": _xfo,
    "cross-origin-resource-policy": corp_test,
    "cross-origin-opener-policy": coop_test,
    "cross-origin-embedder-policy": coep_test,
}


def test_every_modifier_matches_the_observatorys_grader_table() -> None:
    """Every result id the Observatory grades has exactly its SCORE_TABLE modifier, and no other id exists."""
    expected = {row["id"]: row["modifier"] for row in TABLE}
    assert len(expected) == len(TABLE), "a result id is listed twice in the table"
    ours = {rid: result.modifier for rid, result in RESULTS.items()}
    assert ours == expected


def test_every_result_has_a_plain_explanation_and_a_severity() -> None:
    """Each result id carries a one-line explanation and maps to a severity by its modifier."""
    for rid, result in RESULTS.items():
        assert result.explanation and "\n" not in result.explanation, rid
        assert result.explanation[0].isupper() and result.explanation.endswith("."), rid
        assert len(result.explanation) <= 160, rid
        assert severity_for(result.modifier) in ("high", "medium", "low", "info")


def test_the_cases_cover_all_twelve_tests() -> None:
    """The re-expressed cases exercise each of the Observatory's 12 tests."""
    assert {case["test"] for case in CASES["case"]} == set(TESTS) == set(RUN)


@pytest.mark.parametrize("case", CASES["case"], ids=[f"{c['test']}: {c['it']}" for c in CASES["case"]])
def test_observatory_case(case: dict[str, Any]) -> None:
    """One case of the Observatory's own test suite gives the reference's result."""
    outcome = RUN[case["test"]](requests(case))
    assert outcome.test == case["test"]
    if "expected" in case:
        assert outcome.result == case["expected"], (case["source"], case["it"])
    if "passed" in case:
        assert outcome.passed is case["passed"]
    if "data" in case:
        assert outcome.observed == case["data"]
    if "policy" in case:
        policy = outcome.observed["policy"]
        assert {flag: policy[flag] for flag in case["policy"]} == case["policy"]


@pytest.mark.parametrize("case", CASES["parser_case"], ids=[c["it"] for c in CASES["parser_case"]])
def test_observatory_csp_parser_case(case: dict[str, Any]) -> None:
    """One case of the Observatory's CSP parser tests: the same directives, error or warnings."""
    if case.get("invalid"):
        with pytest.raises(CspError):
            parse_csp(case["policies"])
        return
    parsed = parse_csp(case["policies"])
    if "expected" in case:
        got = {d: sorted(sources) for d, sources in parsed.items() if d != DUPLICATES_KEY}
        assert got == {d: sorted(sources) for d, sources in case["expected"].items()}
    if "duplicates" in case:
        assert parsed[DUPLICATES_KEY] == set(case["duplicates"])
    assert parsed, "a valid policy parses to at least one directive"
