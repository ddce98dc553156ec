"""The service as an attacker tries it (OWASP API Top 10): every refusal has the right status and leaks nothing."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from auth_helpers import new_api_key, security
from fastapi.testclient import TestClient
from sqlalchemy import text

from polypdet.security.roles import Role
from polypdet.security.totp import code_at

PASSWORD = "correct horse battery"
GENERIC_401 = {"error": "unauthorized", "detail": "missing, invalid, expired or revoked credentials"}


def make_user(client: TestClient, username: str, role: Role = Role.CLINICIAN) -> str:
    """A user with TOTP; returns the TOTP secret."""
    context = security(client)
    context.users.create(username, PASSWORD, role)
    return context.users.enroll_totp(username).secret


def login(client: TestClient, username: str, secret: str, moment: datetime | None = None) -> Any:
    code = code_at(secret, moment or datetime.now(UTC))
    return client.post("/api/auth/login", json={"username": username, "password": PASSWORD, "totp": code})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def detect(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post("/api/detect", content=body, headers={"content-type": "image/jpeg", **(headers or {})})


def audit_actions(client: TestClient) -> list[tuple[str, str]]:
    return [(r["action"], r["outcome"]) for r in security(client).audit.export()]


# --- missing, wrong, revoked and expired credentials -------------------------------------------------------------


def test_every_api_route_needs_a_caller(make_client: Callable[..., TestClient]) -> None:
    client = make_client(role=None)
    open_routes = {"/api/auth/login", "/api/auth/refresh"}
    paths = client.get("/openapi.json").json()["paths"]
    routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/") and path not in open_routes
        for method in operations
    ]
    assert len(routes) >= 12
    for method, path in routes:
        url = path.replace("{result_id}", "0" * 32).replace("{username}", "alice").replace("{prefix}", "a" * 10)
        response = client.request(method, url)
        assert response.status_code == 401, (method, path)
        assert response.json() == GENERIC_401 and response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "pdk_aaaaaaaaaa_not-the-secret"},
        {"X-API-Key": "garbage"},
        {"Authorization": "Bearer pdk_aaaaaaaaaa_x"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
def test_wrong_credentials(make_client: Callable[..., TestClient], jpeg_bytes: bytes, headers: dict[str, str]) -> None:
    client = make_client(role=None)
    response = detect(client, jpeg_bytes, headers)
    assert response.status_code == 401 and response.json() == GENERIC_401


def test_revoked_key_and_key_as_bearer(client: TestClient, jpeg_bytes: bytes) -> None:
    key = client.headers.pop("X-API-Key")
    assert detect(client, jpeg_bytes, bearer(key)).status_code == 200  # Bearer works for keys too
    security(client).api_keys.revoke(key.split("_")[1])
    response = detect(client, jpeg_bytes, {"X-API-Key": key})
    assert response.status_code == 401 and response.json() == GENERIC_401
    reasons = [r["details"].get("reason") for r in security(client).audit.export() if r["action"] == "auth.failed"]
    assert reasons == ["unknown, malformed or revoked API key"]  # the reason is in the audit trail only


# --- tokens: login, refresh, logout, alg none, tampering, expiry, audience, idle sessions --------------------------


def test_login_refresh_logout(make_client: Callable[..., TestClient], jpeg_bytes: bytes) -> None:
    client = make_client(role=None)
    secret = make_user(client, "dr.lee")
    tokens = login(client, "dr.lee", secret).json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 600 and tokens["idle_timeout"] == 900
    assert detect(client, jpeg_bytes, bearer(tokens["access_token"])).status_code == 200
    me = client.get("/api/auth/me", headers=bearer(tokens["access_token"])).json()
    assert me["actor"] == "user:dr.lee" and me["roles"] == ["clinician"]
    renewed = client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert client.post("/api/auth/logout", headers=bearer(renewed["access_token"])).status_code == 204
    for token in (renewed["access_token"], tokens["access_token"]):  # server-side revocation: not valid any more
        assert detect(client, jpeg_bytes, bearer(token)).status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": renewed["refresh_token"]}).status_code == 401
    actions = [a for a, _ in audit_actions(client)]
    assert actions[:4] == ["auth.login", "result.created", "auth.refresh", "auth.logout"]


def test_stolen_refresh_token_reuse_ends_the_session(make_client: Callable[..., TestClient]) -> None:
    client = make_client(role=None)
    tokens = login(client, "dr.lee", make_user(client, "dr.lee")).json()
    client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert client.get("/api/auth/me", headers=bearer(tokens["access_token"])).status_code == 401


def forged(client: TestClient, token: str, **changes: Any) -> str:
    claims = jwt.decode(token, options={"verify_signature": False}) | changes
    signer = security(client).signer
    return jwt.encode(claims, signer._secret, algorithm="HS256")


def test_forged_tokens(make_client: Callable[..., TestClient]) -> None:
    client = make_client(role=None)
    token = login(client, "dr.lee", make_user(client, "dr.lee")).json()["access_token"]
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})

    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    attacks = {
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims | {'role': 'admin'})}.",
        "tampered payload": f"{header}.{b64(claims | {'role': 'admin'})}.{signature}",
        "tampered signature": f"{header}.{payload}.{signature[::-1]}",
        "expired": forged(client, token, exp=int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())),
        "wrong audience": forged(client, token, aud="another-service"),
        "wrong issuer": forged(client, token, iss="evil"),
        "other key": jwt.encode(claims, b"a-completely-different-secret-key-value", algorithm="HS256"),
    }
    for name, attack in attacks.items():
        response = client.get("/api/admin/users", headers=bearer(attack))
        assert response.status_code == 401 and response.json() == GENERIC_401, name
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200  # the real one still works


def test_idle_session_is_logged_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(role=None)
    token = login(client, "dr.lee", make_user(client, "dr.lee")).json()["access_token"]
    idle_since = datetime.now(UTC) - timedelta(seconds=901)
    with security(client).engine.begin() as connection:
        connection.execute(text("UPDATE login_sessions SET last_seen_at = :t"), {"t": idle_since})
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401
    reasons = [r["details"].get("reason") for r in security(client).audit.export() if r["action"] == "auth.failed"]
    assert reasons == ["token: idle timeout (automatic logoff)"]


# --- TOTP replay and brute force ------------------------------------------------------------------------------------


def test_totp_replay_and_lock_out(make_client: Callable[..., TestClient]) -> None:
    client = make_client(role=None, login_max_failures=3)
    secret = make_user(client, "dr.lee")
    now = datetime.now(UTC)
    assert login(client, "dr.lee", secret, now).status_code == 200
    replay = login(client, "dr.lee", secret, now)
    assert replay.status_code == 401 and replay.json()["detail"] == "invalid username, password or code"
    for guess in ("000000", "111111", "222222"):
        client.post("/api/auth/login", json={"username": "dr.lee", "password": PASSWORD, "totp": guess})
    locked = login(client, "dr.lee", secret, now + timedelta(seconds=30))  # right password, fresh code
    assert locked.status_code == 401 and locked.json() == replay.json()  # no hint that the account is locked
    reasons = [r["details"]["reason"] for r in security(client).audit.export() if r["action"] == "auth.login_failed"]
    assert reasons[0] == "replayed TOTP code" or reasons[0].startswith("wrong or replayed")
    assert reasons[-1] == "locked out" and any("locked out after 3 failures" in r for r in reasons)


# --- roles: own results only, admin routes, auditor ---------------------------------------------------------------


def test_clinicians_read_only_their_own_results(make_client: Callable[..., TestClient], jpeg_bytes: bytes) -> None:
    client = make_client(role=None)
    alice, bob = new_api_key(client, Role.CLINICIAN), new_api_key(client, Role.CLINICIAN)
    mine = detect(client, jpeg_bytes, {"X-API-Key": alice}).json()["id"]
    response = client.get(f"/api/results/{mine}", headers={"X-API-Key": bob})
    assert (
        response.status_code == 404 and mine not in response.text.replace(mine, "", 1)
    ) or response.status_code == 404
    assert client.get("/api/results", headers={"X-API-Key": bob}).json()["items"] == []
    assert client.get(f"/api/results/{mine}", headers={"X-API-Key": alice}).status_code == 200
    assert ("result.read", "not_found") in audit_actions(client)


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.SERVICE, Role.AUDITOR])
def test_admin_routes_refuse_other_roles(make_client: Callable[..., TestClient], role: Role) -> None:
    client = make_client(role=role)
    calls = [
        ("GET", "/api/admin/users", None),
        ("POST", "/api/admin/users", {"username": "eve", "password": PASSWORD, "role": "admin"}),
        ("POST", "/api/admin/users/eve/disable", None),
        ("POST", "/api/admin/users/eve/totp", None),
        ("GET", "/api/admin/keys", None),
        ("POST", "/api/admin/keys", {"name": "mine", "role": "admin"}),
        ("DELETE", "/api/admin/keys/aaaaaaaaaa", None),
    ]
    if role is not Role.AUDITOR:
        calls += [("GET", "/api/admin/audit", None), ("GET", "/api/admin/audit/export", None)]
    for method, url, body in calls:
        response = client.request(method, url, json=body)
        assert response.status_code == 403, (role, method, url)
        assert response.json() == {"error": "forbidden", "detail": "your role does not allow this"}
    assert security(client).users.by_name("eve") is None
    assert ("access.denied", "denied") in audit_actions(client)


def test_auditor_reads_the_trail_but_no_patient_data(client: TestClient, jpeg_bytes: bytes) -> None:
    result = detect(client, jpeg_bytes).json()["id"]
    auditor = {"X-API-Key": new_api_key(client, Role.AUDITOR)}
    page = client.get("/api/admin/audit", headers=auditor).json()
    assert [r["action"] for r in page["records"]][:1] == ["result.created"]
    export = client.get("/api/admin/audit/export", headers=auditor).json()
    assert export["chain_ok"] and export["head_hash"] == export["records"][-1]["hash"]
    assert client.get(f"/api/results/{result}", headers=auditor).status_code == 403
    assert detect(client, jpeg_bytes, auditor).status_code == 403


def test_admin_manages_users_and_keys(make_client: Callable[..., TestClient], jpeg_bytes: bytes) -> None:
    client = make_client(role=Role.ADMIN)
    created = client.post("/api/admin/users", json={"username": "dr.kim", "password": PASSWORD, "role": "clinician"})
    assert created.status_code == 201 and created.json()["totp"] is False
    uri = client.post("/api/admin/users/dr.kim/totp").json()["provisioning_uri"]
    assert uri.startswith("otpauth://totp/polypdet:dr.kim?secret=")
    key = client.post("/api/admin/keys", json={"name": "kim's scope", "role": "clinician", "username": "dr.kim"})
    body = key.json()
    assert key.status_code == 201 and body["key"].startswith(f"pdk_{body['prefix']}_")
    assert all("key" not in k for k in client.get("/api/admin/keys").json())  # shown once, never listed
    assert detect(client, jpeg_bytes, {"X-API-Key": body["key"]}).status_code == 200
    assert client.delete(f"/api/admin/keys/{body['prefix']}").json()["revoked"] is True
    assert detect(client, jpeg_bytes, {"X-API-Key": body["key"]}).status_code == 401
    assert client.post("/api/admin/users/dr.kim/disable").json()["disabled"] is True


# --- mass assignment, oversized bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/admin/users", {"username": "x", "password": PASSWORD, "role": "clinician", "disabled": False}),
        ("/api/admin/users", {"username": "x", "password": PASSWORD, "role": "clinician", "totp_enabled": True}),
        ("/api/admin/users", {"username": "x", "password": PASSWORD, "role": "superuser"}),
        ("/api/admin/keys", {"name": "x", "role": "service", "key_hash": "0" * 64}),
        ("/api/auth/login", {"username": "x", "password": "y", "totp": "123456", "role": "admin"}),
        ("/api/detect", {"image": "aGVsbG8=", "owner": "someone-else"}),
    ],
)
def test_extra_fields_are_refused(make_client: Callable[..., TestClient], url: str, body: dict[str, Any]) -> None:
    client = make_client(role=Role.ADMIN)
    response = client.post(url, json=body)
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    assert security(client).users.by_name("x") is None


def test_oversized_bodies(make_client: Callable[..., TestClient]) -> None:
    client = make_client(role=Role.ADMIN, max_upload_mb=0.5)
    big = {"username": "x" * (200 * 1024), "password": PASSWORD, "totp": "123456"}
    for url in ("/api/auth/login", "/api/admin/users"):
        response = client.post(url, json=big)
        assert response.status_code == 413 and response.json()["error"] == "too_large", url
    response = client.post("/api/detect", content=b"\xff" * (600 * 1024), headers={"content-type": "image/jpeg"})
    assert response.status_code == 413
    chunks = (b'{"username": "' + b"x" * 16384 for _ in range(8))  # no Content-Length: chunked transfer
    response = client.post("/api/auth/login", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413


# --- rate limits, IP allow-list, X-Forwarded-For ------------------------------------------------------------------


def test_rate_limit_per_client_ip(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit="5/minute")
    codes = [client.get("/api/results").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    refused = client.get("/api/results")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"] == "rate_limited" and "results" not in refused.text
    assert client.get("/health").status_code == 200  # probes are not counted


def test_rate_limit_per_key_across_addresses(make_client: Callable[..., TestClient], detector: Any) -> None:
    client = make_client(rate_limit="4/minute", trusted_proxies="127.0.0.1")
    proxied = TestClient(client.app, client=("127.0.0.1", 40000), headers=dict(client.headers))
    # Four different clients behind the proxy, one key: the key's budget runs out, not the addresses'.
    codes = [proxied.get("/api/results", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(5)]
    assert codes == [200] * 4 + [429]


@pytest.mark.redis
def test_rate_limit_is_shared_through_redis(make_client: Callable[..., TestClient], redis_url: str) -> None:
    prefix = f"polypdet-test-rl-{uuid.uuid4().hex[:8]}"
    first = make_client(rate_limit="4/minute", redis_url=redis_url, rate_limit_prefix=prefix)
    second = make_client(rate_limit="4/minute", redis_url=redis_url, rate_limit_prefix=prefix)
    codes = [c.get("/api/results").status_code for c in (first, second, first, second, first)]
    assert codes == [200, 200, 200, 200, 429]  # two replicas, one budget


def test_ip_allow_list_and_spoofed_forwarded_for(make_client: Callable[..., TestClient]) -> None:
    client = make_client(allowed_networks="10.0.0.0/8", trusted_proxies="127.0.0.1")
    headers = dict(client.headers)
    outsider = TestClient(client.app, client=("203.0.113.9", 40000), headers=headers)
    refused = outsider.get("/api/results", headers={"X-Forwarded-For": "10.1.2.3"})  # spoofed: not from the proxy
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert outsider.get("/health").status_code == 403
    insider = TestClient(client.app, client=("10.20.30.40", 40000), headers=headers)
    assert insider.get("/api/results").status_code == 200
    proxy = TestClient(client.app, client=("127.0.0.1", 40000), headers=headers)
    assert proxy.get("/api/results", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200
    assert proxy.get("/api/results", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    # A client prepending an allowed address to the chain gets nowhere: the proxy appended the real one.
    assert proxy.get("/api/results", headers={"X-Forwarded-For": "10.1.2.3, 203.0.113.9"}).status_code == 403


# --- headers, development mode --------------------------------------------------------------------------------------


def test_secure_headers(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    plain = client.get("/api/results")
    assert plain.headers["cache-control"] == "no-store" and plain.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in plain.headers
    tls = TestClient(client.app, base_url="https://testserver", headers=dict(client.headers)).get("/api/results")
    assert tls.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]


def test_auth_off_is_development_only_and_still_no_admin(
    make_client: Callable[..., TestClient], jpeg_bytes: bytes
) -> None:
    client = make_client(role=None, auth_enabled=False)
    assert detect(client, jpeg_bytes).status_code == 200
    assert client.get("/api/admin/users").status_code == 403


# --- the audit trail through the API ------------------------------------------------------------------------------


def test_tampering_shows_in_the_api_verification(client: TestClient, jpeg_bytes: bytes) -> None:
    for _ in range(3):
        detect(client, jpeg_bytes)
    auditor = {"X-API-Key": new_api_key(client, Role.AUDITOR)}
    assert client.get("/api/admin/audit/verify", headers=auditor).json()["ok"] is True
    with security(client).engine.begin() as connection:
        second = connection.execute(text("SELECT seq FROM audit_log ORDER BY seq LIMIT 1 OFFSET 1")).scalar_one()
        connection.execute(text("UPDATE audit_log SET actor = 'key:someone' WHERE seq = :s"), {"s": second})
    report = client.get("/api/admin/audit/verify", headers=auditor).json()
    assert report["ok"] is False and report["broken_seq"] == second
