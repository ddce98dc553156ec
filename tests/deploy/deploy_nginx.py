"""Run deploy/nginx with Debian's nginx from a temporary prefix: same files, loopback ports, local paths."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy_paths import DEPLOY
from deploy_processes import start, wait_http

from tls_certs import self_signed

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
UPSTREAM_SERVER = re.compile(r"^(\s*)server\s+polyp-detector:8000(.*)$", re.MULTILINE)


@dataclass
class NginxSite:
    root: Path
    http_port: int
    tls_port: int
    plain_port: int | None

    @property
    def conf(self) -> Path:
        return self.root / "conf" / "nginx.conf"

    def command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.root), "-c", str(self.conf), "-e", str(self.root / "error.log"), *extra]

    def test(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on this site."""
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self) -> subprocess.Popen[bytes]:
        process = start(self.command("-g", "daemon off;"), {}, self.root / "nginx.out")
        wait_http(f"http://127.0.0.1:{self.http_port}/nginx-health", process, timeout=15)
        return process


def local_site(
    root: Path, upstream_ports: Sequence[int], http_port: int, tls_port: int, plain_port: int | None = None
) -> NginxSite:
    """Copy deploy/nginx under ``root`` and point it at loopback: detectors on ``upstream_ports``, nginx on
    ``http_port`` (redirect), ``tls_port`` (the TLS 1.3 API) and optionally ``plain_port`` (the same locations over
    plain HTTP, as a load test needs no TLS handshake per connection)."""
    conf = root / "conf"
    shutil.copytree(DEPLOY / "nginx", conf)
    shutil.copy(Path("/etc/nginx/mime.types"), conf / "mime.types")
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / "temp" / temp).mkdir(parents=True)
    main = (conf / "nginx.conf").read_text()
    main = re.sub(r"(?m)^pid .*;$", f"pid {root / 'nginx.pid'};", main)
    main = main.replace("error_log /dev/stderr", f"error_log {root / 'error.log'}")
    main = main.replace("access_log /dev/stdout", f"access_log {root / 'access.log'}")
    temp_paths = "".join(
        f"    {t}_temp_path {root / 'temp' / t.split('_')[-1]};\n"
        for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = main.replace("http {\n", "http {\n" + temp_paths, 1)
    if os.geteuid() == 0:  # workers would run as nobody, who cannot enter pytest's private temporary folders
        main = "user root;\n" + main
    (conf / "nginx.conf").write_text(main)

    upstream = (conf / "conf.d" / "upstream.conf").read_text()
    assert UPSTREAM_SERVER.search(upstream), "upstream.conf no longer names polyp-detector:8000"
    upstream = UPSTREAM_SERVER.sub(
        lambda m: "\n".join(f"{m.group(1)}server 127.0.0.1:{port}{m.group(2)}" for port in upstream_ports), upstream
    )
    (conf / "conf.d" / "upstream.conf").write_text(upstream)

    cert, key = self_signed(root)
    site = (conf / "conf.d" / "polypdet.conf").read_text()
    site = site.replace("/run/secrets/tls_cert", str(cert)).replace("/run/secrets/tls_key", str(key))
    site = re.sub(r"(?m)^\s*listen \[::\].*\n", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{tls_port} ssl")
    (conf / "conf.d" / "polypdet.conf").write_text(site)
    if plain_port is not None:
        (conf / "conf.d" / "zz-test-plain.conf").write_text(
            f"server {{\n    listen 127.0.0.1:{plain_port};\n    include snippets/polypdet-locations.conf;\n}}\n"
        )
    return NginxSite(root, http_port, tls_port, plain_port)
