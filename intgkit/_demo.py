"""``intgkit demo``: audit a deliberately mediocre local site with every built-in integration.

Everything runs on 127.0.0.1 and nothing leaves the machine: a web site (HTTP + HTTPS), a TLS
endpoint whose certificate expires soon, a DNS server for the site's zone and a fake Cloudflare
API. The integrations are the real ones, configured through their constructor overrides (trust
roots, name overrides, nameserver, API base) exactly as a user points them at real hosts.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ._errors import MissingExtraError
from ._models import IntegrationResults, Status
from ._registry import IntegrationRegistry
from ._runner import IntegrationRunner

if TYPE_CHECKING:
    import pandas as pd


async def audit() -> IntegrationResults:
    """Start the local servers, run the built-in integrations against them, stop the servers."""
    try:
        from .testing import DemoServers
    except ImportError as exc:  # trustme / dnslib live in the testing extra
        raise MissingExtraError(exc.name or "trustme", "testing", "intgkit demo") from exc

    async with DemoServers() as servers:
        registry = IntegrationRegistry(None)
        for integ in servers.integrations():
            registry.register(integ)
        runner = IntegrationRunner(registry, timeout=20)
        site_results = await runner.arun(registry.names(), targets=[servers.SITE])
        # the shop's certificate comes from another CA: trust it for the second run
        registry.unregister("tls_certificate")
        registry.register(servers.shop_integration())
        shop_results = await runner.arun(["tls_certificate"], targets=[servers.SHOP])
    return IntegrationResults([*site_results, *shop_results])


def run_demo(csv_dir: Path, *, fmt: str = "table", stdout: TextIO | None = None) -> int:
    """Run the audit, print the findings and write the CSV export; the CLI's exit code."""
    out = stdout or sys.stdout
    results = asyncio.run(audit())
    if fmt == "json":
        from .cli import print_results

        print_results(results, "json", out)
    else:
        _print_report(results, out)
    path = results.to_csv(csv_dir)
    out.write(f"\nCSV export: {path}/ ({', '.join(sorted(p.name for p in path.iterdir()))})\n")
    return 0 if all(r.status is Status.OK for r in results) else 1


def _print_report(results: IntegrationResults, out: TextIO) -> None:
    import pandas as pd

    with pd.option_context("display.max_rows", 200, "display.width", 160, "display.max_colwidth", 60):
        out.write("intgkit demo: a deliberately mediocre site, audited offline on 127.0.0.1\n\n")
        summary = results.to_frame()[["integration", "target", "status", "duration_s", "n_rows", "error"]]
        out.write(summary.to_string(index=False) + "\n\n")
        if "observatory" in results.section_names():
            obs = results.to_frame("observatory")
            cols = [c for c in ("target", "score", "grade", "tests_passed", "tests_failed") if c in obs]
            out.write("MDN HTTP Observatory\n" + obs[cols].to_string(index=False) + "\n\n")
        if "findings" in results.section_names():
            out.write("Failed checks, most severe first\n")
            out.write(_failed_findings(results.to_frame("findings")).to_string(index=False) + "\n")


def _failed_findings(findings: pd.DataFrame) -> pd.DataFrame:
    order = {s: i for i, s in enumerate(("critical", "high", "medium", "low", "info"))}
    failed = findings[~findings["passed"].astype(bool)]
    failed = failed.assign(_rank=failed["severity"].map(order)).sort_values(["_rank", "integration", "check"])
    return failed[["severity", "integration", "target", "check", "observed"]].reset_index(drop=True)
