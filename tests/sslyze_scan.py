"""Scan TLS servers with sslyze and print the facts as JSON (run with .venv-sslyze's python).

sslyze 6.3.1 needs cryptography < 47 and cannot share the project's environment, so the parity
test (tests/test_tls_parity.py) runs this file in the venv .ci/setup makes for it. Input on
stdin: ``[{"name", "hostname", "port", "ca_file", "mozilla": bool}]``; output on stdout: one
object per server with sslyze's own values, read from its result objects and nothing computed
here but the received chain's signature hashes and validity dates.
The output's ``seconds`` is the scan's own wall time (benchmarks/bench_tls.py reads it).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive")

from sslyze import (  # noqa: E402 - after the warning filter: the bundled stores warn on import
    CertificateInfoExtraArgument,
    ScanCommand,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (  # noqa: E402
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

VERSIONS = {
    "ssl3_0": ScanCommand.SSL_3_0_CIPHER_SUITES,
    "tls1_0": ScanCommand.TLS_1_0_CIPHER_SUITES,
    "tls1_1": ScanCommand.TLS_1_1_CIPHER_SUITES,
    "tls1_2": ScanCommand.TLS_1_2_CIPHER_SUITES,
    "tls1_3": ScanCommand.TLS_1_3_CIPHER_SUITES,
}


def _request(spec: dict[str, Any]) -> ServerScanRequest:
    commands = {ScanCommand.CERTIFICATE_INFO, *VERSIONS.values()}
    if spec.get("mozilla"):
        commands |= SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER
    return ServerScanRequest(
        server_location=ServerNetworkLocation(spec["hostname"], spec["port"], ip_address="127.0.0.1"),
        scan_commands=commands,
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(spec["ca_file"]))
        ),
    )


def _facts(spec: dict[str, Any], res: Any) -> dict[str, Any]:
    if res.scan_status != ServerScanStatusEnum.COMPLETED:
        return {"name": spec["name"], "error": str(res.connectivity_error_trace)}
    out: dict[str, Any] = {
        "name": spec["name"],
        "client_auth": res.connectivity_result.client_auth_requirement.name.lower(),
        "versions": {},
        "suites": {},
    }
    for key, cmd in VERSIONS.items():
        attempt = getattr(res.scan_result, cmd.value)
        if attempt.result is None:
            out["versions"][key] = f"error: {attempt.error_reason}"
            continue
        out["versions"][key] = attempt.result.is_tls_version_supported
        out["suites"][key] = sorted(a.cipher_suite.name for a in attempt.result.accepted_cipher_suites)
    info = res.scan_result.certificate_info
    if info.result is not None:
        dep = info.result.certificate_deployments[0]
        mine = next(p for p in dep.path_validation_results if p.trust_store.name == "Supplied CA file")
        chain = dep.received_certificate_chain
        now = datetime.now(UTC)
        out.update(
            chain_valid=mine.was_validation_successful,
            chain_error=mine.validation_error,
            chain_order_valid=dep.received_chain_has_valid_order,
            leaf_rsa_bits=getattr(chain[0].public_key(), "key_size", None),
            leaf_not_yet_valid=chain[0].not_valid_before_utc > now,
            chain_length=len(chain),
            chain_sha1=any(
                c.issuer != c.subject
                and c.signature_hash_algorithm is not None
                and c.signature_hash_algorithm.name == "sha1"
                for c in chain
            ),
            ocsp_stapled=dep.ocsp_response is not None,
            ocsp_trusted=dep.ocsp_response_is_trusted,
            ocsp_status=(
                dep.ocsp_response.certificate_status.name.lower() if dep.ocsp_response is not None else None
            ),
        )
    else:
        trace = "".join(info.error_trace.format()) if info.error_trace else ""
        out["certificate_error"] = f"{info.error_reason}: {trace[-1500:]}"
    if spec.get("mozilla"):
        out["mozilla"] = {}
        for profile in ("modern", "intermediate", "old"):
            try:
                check_server_against_tls_configuration(
                    res, MozillaTlsConfiguration.get(TlsConfigurationEnum(profile))
                )
                out["mozilla"][profile] = []
            except ServerNotCompliantWithTlsConfiguration as exc:
                out["mozilla"][profile] = sorted(exc.issues)
    return out


def main() -> None:
    specs = json.load(sys.stdin)
    started = time.perf_counter()
    scanner = Scanner()
    scanner.queue_scans([_request(s) for s in specs])
    by_port = {s["port"]: s for s in specs}
    results = [_facts(by_port[r.server_location.port], r) for r in scanner.get_results()]
    elapsed = time.perf_counter() - started
    json.dump({"seconds": elapsed, "servers": results}, sys.stdout)


if __name__ == "__main__":
    main()
