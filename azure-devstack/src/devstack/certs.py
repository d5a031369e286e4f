"""A local certificate authority and one server certificate for every local HTTPS endpoint.

Generated once into a git-ignored folder and reused, so a browser or tool that trusts the CA keeps
trusting it across restarts. Clients trust the CA through `ca-bundle.pem`: the public CAs plus ours,
so pointing SSL_CERT_FILE / REQUESTS_CA_BUNDLE at it breaks nothing else.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import certifi
import trustme
from cryptography import x509

# Every name a local service answers to: loopback, and the Azure host names the app uses through the
# stack's proxy (see host_proxy.py).
SERVER_NAMES = (
    "localhost",
    "127.0.0.1",
    "::1",
    "*.vault.azure.net",
    "*.blob.core.windows.net",
    "*.documents.azure.com",
)
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class CertPaths:
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server-key.pem"

    @property
    def ca_bundle(self) -> Path:
        return self.folder / "ca-bundle.pem"


def ensure_certificates(folder: Path) -> CertPaths:
    paths = CertPaths(folder)
    if not _usable(paths):
        _generate(paths)
    return paths


def _usable(paths: CertPaths) -> bool:
    files = (paths.ca, paths.server_cert, paths.server_key, paths.ca_bundle)
    if not all(p.exists() for p in files):
        return False
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    covered = {str(n.value) for n in names}
    renew_at = cert.not_valid_after_utc - RENEW_BEFORE
    return covered >= set(SERVER_NAMES) and datetime.datetime.now(datetime.UTC) < renew_at


def _generate(paths: CertPaths) -> None:
    paths.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="azure-devstack local CA")
    server = ca.issue_cert(*SERVER_NAMES)
    ca.cert_pem.write_to_path(str(paths.ca))
    write_private(paths.server_key, server.private_key_pem.bytes())
    with paths.server_cert.open("wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    public_cas = Path(certifi.where()).read_bytes()
    paths.ca_bundle.write_bytes(public_cas.rstrip(b"\n") + b"\n" + ca.cert_pem.bytes())


def write_private(path: Path, data: bytes) -> None:
    """Written readable by the owner only from its first byte (never chmod-ed afterwards, which leaves a
    moment in which others may open it), then renamed into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)
