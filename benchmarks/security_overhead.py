"""Per-request cost of the security layer: API key check, JWT check, audit append, payload seal/open.

Runs in-process on a temporary SQLite store (the default deployment) and writes
``benchmarks/results/security_overhead.json``: median and P95 in milliseconds per operation.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from polypdet.config import Settings
from polypdet.security.context import open_security
from polypdet.security.crypto import Envelope, record_aad
from polypdet.security.roles import Role

REPO = Path(__file__).resolve().parents[1]


def timed(operation: Callable[[], object], count: int = 500) -> dict[str, float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        operation()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 3), "p95_ms": round(samples[int(count * 0.95)], 3)}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="polypdet-security-bench-") as home:
        context = open_security(Settings(polypdet_home=Path(home)))
        _, key = context.api_keys.create("bench", Role.SERVICE)
        token, _ = context.signer.issue("u", "bench", Role.CLINICIAN, "s")
        envelope, aad = Envelope(context.provider), record_aad("results.payload", "0" * 32)
        payload = json.dumps({"detections": [{"bbox": [1.5, 2.5, 300.0, 200.0], "confidence": 0.9}] * 5}).encode()
        blob = envelope.seal(payload, aad)
        results = {
            "api_key_check": timed(lambda: context.api_keys.authenticate(key)),
            "jwt_check": timed(lambda: context.signer.verify(token)),
            "audit_append_sqlite": timed(lambda: context.audit.append("result.created", "key:bench", target="r")),
            "payload_seal": timed(lambda: envelope.seal(payload, aad)),
            "payload_open": timed(lambda: envelope.open(blob, aad)),
            "audit_verify_500_records": timed(context.audit.verify, count=5),
        }
        context.engine.dispose()
    out = REPO / "benchmarks/results/security_overhead.json"
    out.write_text(json.dumps({"store": "sqlite (WAL)", "operations": results}, indent=2) + "\n")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
