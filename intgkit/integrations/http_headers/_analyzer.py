"""The twelve tests in the Observatory's order (``src/analyzer/analyzer.js``)."""

from __future__ import annotations

from ._cookies import cookies_test
from ._cors import cors_test
from ._cross_origin_policies import coep_test, coop_test, corp_test
from ._csp import csp_test
from ._hsts import hsts_test
from ._outcome import Outcome
from ._redirection import redirection_test
from ._referrer_policy import referrer_test
from ._retriever import Retrieval
from ._sri import sri_test
from ._x_content_type_options import xcto_test
from ._x_frame_options import xfo_test

TESTS_QUANTITY = 12


def run_tests(r: Retrieval, *, strict_cors: bool = False) -> list[Outcome]:
    """The twelve tests, in the Observatory's order."""
    csp, csp_data = csp_test(r)
    hsts = hsts_test(r)
    return [
        csp,
        cookies_test(r, hsts),
        cors_test(r, strict=strict_cors),
        redirection_test(r),
        referrer_test(r),
        hsts,
        sri_test(r),
        xcto_test(r),
        xfo_test(r, csp_data),
        corp_test(r),
        coop_test(r),
        coep_test(r),
    ]
