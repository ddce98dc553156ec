"""Run deploy/nginx with Debian's nginx from a temporary prefix: same files, loopback ports, local paths."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from deploy_paths import DEPLOY
from deploy_processes import start, wait_http

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


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "polyp-api.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tls_cert.pem", folder / "tls_key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


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
