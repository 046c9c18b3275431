"""A throwaway PKI for the local control plane, made with the ``openssl`` command.

Why the CLI and not the ``cryptography`` package: ``cryptography`` is not among our pip
dependencies (nothing we install pulls it in), while ``openssl`` is on every Debian/Ubuntu
machine (``ca-certificates`` depends on it). Keys are ECDSA P-256: generating one takes
milliseconds (RSA-2048 takes ~100 ms each) and every component accepts them, including the
apiserver's service-account token signer (ES256).
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from modelguard_testenv._process import ComponentStartError, MissingBinaryError

_VALID_DAYS = "7"

# A minimal config of our own, so the machine's openssl.cnf (which differs between distros and
# may add extensions or policies) cannot change what we generate.
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
"""


@dataclass(frozen=True)
class CertKeyPair:
    """PEM files of one certificate and its private key."""

    cert: Path
    key: Path


def _escape_rdn(value: str) -> str:
    # openssl -subj uses "/" between attributes and "+" for multi-valued RDNs.
    for char in ("\\", "/", "+"):
        value = value.replace(char, "\\" + char)
    return value


class PKI:
    """A CA plus the certificates it issues, all files under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log_file = directory / "openssl.log"
        found = shutil.which("openssl")
        if found is None:
            raise MissingBinaryError(
                "pki",
                "the 'openssl' command is not on PATH (apt-get install openssl); "
                "it generates the throwaway certificates of the test control plane",
            )
        self._openssl = found
        self.ca = CertKeyPair(directory / "ca.crt", directory / "ca.key")

    def create_ca(self) -> CertKeyPair:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "openssl.cnf").write_text(_OPENSSL_CNF)
        self.new_key(self.ca.key)
        self._run(
            "req", "-x509", "-new", "-sha256", "-key", self.ca.key, "-out", self.ca.cert,
            "-days", _VALID_DAYS, "-subj", "/CN=modelguard-testenv-ca",
            "-config", self.directory / "openssl.cnf", "-extensions", "ca_ext",
        )  # fmt: skip
        return self.ca

    def new_key(self, path: Path) -> Path:
        self._run(
            "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path
        )
        path.chmod(0o600)
        return path

    def public_key(self, private_key: Path, path: Path) -> Path:
        self._run("pkey", "-in", private_key, "-pubout", "-out", path)
        return path

    def issue(
        self,
        name: str,
        *,
        common_name: str,
        organizations: Sequence[str] = (),
        hosts: Sequence[str] = (),
    ) -> CertKeyPair:
        """Issue ``<name>.crt``/``<name>.key`` signed by the CA.

        ``organizations`` become O attributes, which Kubernetes reads as group names;
        ``hosts`` (IPs or DNS names) become subjectAltNames and make it a serving cert.
        """
        pair = CertKeyPair(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        csr = self.directory / f"{name}.csr"
        ext = self.directory / f"{name}.ext"
        subject = "".join(f"/O={_escape_rdn(org)}" for org in organizations)
        subject += f"/CN={_escape_rdn(common_name)}"
        lines = [
            "[leaf]",
            "basicConstraints = critical, CA:FALSE",
            "keyUsage = critical, digitalSignature, keyEncipherment",
            f"extendedKeyUsage = {'serverAuth, clientAuth' if hosts else 'clientAuth'}",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid",
        ]
        if hosts:
            lines.append("subjectAltName = " + ", ".join(_san(host) for host in hosts))
        ext.write_text("\n".join(lines) + "\n")
        self.new_key(pair.key)
        self._run(
            "req", "-new", "-sha256", "-key", pair.key, "-out", csr, "-subj", subject,
            "-config", self.directory / "openssl.cnf",
        )  # fmt: skip
        self._run(
            "x509", "-req", "-sha256", "-in", csr, "-CA", self.ca.cert, "-CAkey", self.ca.key,
            "-set_serial", f"0x{secrets.randbits(63):x}", "-days", _VALID_DAYS,
            "-extfile", ext, "-extensions", "leaf", "-out", pair.cert,
        )  # fmt: skip
        csr.unlink()
        ext.unlink()
        return pair

    def _run(self, *args: str | Path) -> None:
        argv = [self._openssl, *(str(arg) for arg in args)]
        env = dict(os.environ, OPENSSL_CONF=str(self.directory / "openssl.cnf"))
        try:
            result = subprocess.run(argv, capture_output=True, env=env, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ComponentStartError("pki", f"{' '.join(argv)}: {exc}") from exc
        if result.returncode != 0:
            with self.log_file.open("ab") as log:
                log.write(f"$ {' '.join(argv)}\n".encode() + result.stdout + result.stderr)
            raise ComponentStartError(
                "pki", f"openssl exited with code {result.returncode}", self.log_file
            )


def _san(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"DNS:{host}"
    return f"IP:{host}"


def write_kubeconfig(
    path: Path, *, server: str, ca: Path, client: CertKeyPair, user: str, cluster: str
) -> Path:
    """Write a self-contained kubeconfig (certificates embedded) for one user."""

    def b64(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode("ascii")

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(client.cert),
                    "client-key-data": b64(client.key),
                },
            }
        ],
        "contexts": [{"name": f"{user}@{cluster}", "context": {"cluster": cluster, "user": user}}],
        "current-context": f"{user}@{cluster}",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
