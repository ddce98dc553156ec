"""deploy/nginx: the seed's upstream and /api/detect location, failover settings, TLS 1.3 only — checked by
Debian's nginx (``nginx -t`` and a running instance on loopback) and by reading the parsed configuration."""

from __future__ import annotations

import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crossplane
import pytest
from deploy_nginx import NGINX, NginxSite, local_site
from deploy_paths import DEPLOY
from deploy_processes import free_port, stop

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="Debian's nginx is not installed (.ci/run installs it)"
)

Directive = dict[str, Any]


def walk(
    block: list[Directive], parents: tuple[Directive, ...] = ()
) -> Iterator[tuple[Directive, tuple[Directive, ...]]]:
    for directive in block:
        yield directive, parents
        yield from walk(directive.get("block", []), (*parents, directive))


def parsed() -> list[tuple[Directive, tuple[Directive, ...]]]:
    payload = crossplane.parse(str(DEPLOY / "nginx" / "nginx.conf"), combine=True)
    errors = [e for e in payload["errors"] if "mime.types" not in e["error"]]  # nginx's own file, not ours
    assert not errors, errors
    return list(walk(payload["config"][0]["parsed"]))


def block(name: str, *args: str) -> list[Directive]:
    found = [d for d, _ in parsed() if d["directive"] == name and d["args"] == list(args)]
    assert len(found) == 1, f"expected one {name} {' '.join(args)} block, found {len(found)}"
    return list(found[0]["block"])


def args_of(directives: list[Directive], name: str) -> list[str]:
    values = [d["args"] for d in directives if d["directive"] == name]
    assert values, f"{name} is missing"
    return list(values[-1])


def servers() -> list[list[Directive]]:
    return [d["block"] for d, _ in parsed() if d["directive"] == "server" and "block" in d]


def test_upstream_has_the_replicas_with_failure_detection_and_keepalive() -> None:
    upstream = block("upstream", "polyp_detection")
    server = args_of(upstream, "server")
    assert server[0] == "polyp-detector:8000"
    assert "max_fails=1" in server and any(a.startswith("fail_timeout=") for a in server)
    assert int(args_of(upstream, "keepalive")[0]) >= 8


def test_detect_location_retries_posts_on_another_replica_within_the_seeds_timeouts() -> None:
    detect = block("location", "/api/detect")
    assert args_of(detect, "proxy_pass") == ["http://polyp_detection"]
    assert args_of(detect, "proxy_send_timeout") == ["30s"] and args_of(detect, "proxy_read_timeout") == ["30s"]
    assert set(args_of(detect, "proxy_next_upstream")) >= {"error", "timeout", "http_502", "http_503", "non_idempotent"}
    assert int(args_of(detect, "proxy_next_upstream_tries")[0]) >= 2


def test_tls_server_speaks_tls_13_only_and_bodies_up_to_the_upload_limit() -> None:
    tls = [s for s in servers() if any(d["directive"] == "ssl_protocols" for d in s)]
    assert len(tls) == 1 and args_of(tls[0], "ssl_protocols") == ["TLSv1.3"]
    assert any("ssl" in d["args"] for d in tls[0] if d["directive"] == "listen")
    limit = next(d["args"][0] for d, _ in parsed() if d["directive"] == "client_max_body_size")
    assert limit.endswith("m") and int(limit[:-1]) >= 20  # MAX_UPLOAD_MB


@pytest.fixture
def site(tmp_path: Path) -> NginxSite:
    return local_site(tmp_path, [free_port() for _ in range(3)], free_port(), free_port())


def test_nginx_accepts_the_configuration(site: NginxSite) -> None:
    result = site.test()
    assert result.returncode == 0, result.stderr


def test_nginx_rejects_a_broken_configuration(site: NginxSite) -> None:
    snippet = site.conf.parent / "snippets" / "polypdet-locations.conf"
    snippet.write_text(snippet.read_text().replace("proxy_next_upstream ", "proxy_next_upstreams ", 1))
    result = site.test()
    assert result.returncode != 0 and "proxy_next_upstreams" in result.stderr


def test_running_nginx_redirects_http_and_refuses_tls_12(site: NginxSite) -> None:
    process = site.start()
    try:
        no_redirect = urllib.request.build_opener(NoRedirect())
        with pytest.raises(urllib.error.HTTPError) as redirect:
            no_redirect.open(f"http://127.0.0.1:{site.http_port}/api/detect", timeout=5)
        assert redirect.value.code == 301 and redirect.value.headers["Location"].startswith("https://")

        tls13 = ssl.create_default_context(cafile=str(site.root / "cert.pem"))
        with urllib.request.urlopen(f"https://127.0.0.1:{site.tls_port}/nginx-health", context=tls13, timeout=5) as r:
            assert r.status == 200 and r.read() == b"ok\n"

        tls12 = ssl.create_default_context(cafile=str(site.root / "cert.pem"))
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(f"https://127.0.0.1:{site.tls_port}/nginx-health", context=tls12, timeout=5)
        assert isinstance(refused.value.reason, ssl.SSLError)
    finally:
        stop(process, grace=5)
    assert subprocess.run(["test", "-e", str(site.root / "nginx.pid")]).returncode != 0, "nginx did not shut down"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
