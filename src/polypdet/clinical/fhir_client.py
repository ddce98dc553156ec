"""POST a transaction Bundle to the EMR's FHIR server, retrying what a retry can fix."""

from __future__ import annotations

import time
from typing import Any

import requests

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class FhirDeliveryError(RuntimeError):
    """The FHIR server refused the bundle, or could not be reached after every retry."""


def post_bundle(
    bundle: dict[str, Any],
    base_url: str,
    *,
    retries: int = 4,
    backoff_s: float = 0.5,
    timeout_s: float = 10.0,
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """POST ``bundle`` (type ``transaction``) to ``base_url``; returns the server's response bundle.

    Connection errors, timeouts, 408/429 and 5xx are retried ``retries`` times with exponential back-off
    (``Retry-After`` is honoured); other 4xx fail at once, with the server's OperationOutcome in the message.
    """
    if bundle.get("type") != "transaction":
        raise ValueError("only a transaction bundle can be posted to a FHIR base URL")
    http = session or requests.Session()
    send_headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json", **(headers or {})}
    problem = ""
    last_response: requests.Response | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(_retry_delay(last_response, backoff_s, attempt))
        last_response = None
        try:
            response = http.post(base_url.rstrip("/"), json=bundle, headers=send_headers, timeout=timeout_s)
        except requests.RequestException as error:
            problem = f"{type(error).__name__}: {error}"
            continue
        if response.ok:
            body: dict[str, Any] = response.json() if response.content else {}
            return body
        problem = f"HTTP {response.status_code}: {response.text[:300]}"
        if response.status_code not in RETRYABLE_STATUS:
            raise FhirDeliveryError(f"FHIR server refused the bundle: {problem}")
        last_response = response
    raise FhirDeliveryError(f"FHIR server unreachable after {retries + 1} attempts: {problem}")


def _retry_delay(response: requests.Response | None, backoff_s: float, attempt: int) -> float:
    retry_after = response.headers.get("Retry-After", "") if response is not None else ""
    if retry_after.isdigit():
        return min(float(retry_after), 60.0)
    return float(backoff_s * 2 ** (attempt - 1))
