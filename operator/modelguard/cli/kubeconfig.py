"""Which cluster, namespace and identity the CLI acts as, read from kubeconfig.

The kubernetes client can build an API client from kubeconfig, but it does not expose
the context's namespace or the user's certificate, which the CLI needs for its default
namespace and for the requested-by annotation. So the files are read here as kubectl
reads them (KUBECONFIG is a path list, the first file that defines a name wins) and
the client is then built for the context chosen here, so both always agree.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_KUBECONFIG = "~/.kube/config"
DEFAULT_NAMESPACE = "default"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeconfigError(Exception):
    """The kubeconfig cannot say which cluster to talk to; the message says how to fix it."""


@dataclass(frozen=True)
class Target:
    """Where requests go and who sends them, as far as the local configuration knows."""

    config_files: tuple[str, ...]  # empty: in-cluster service account
    context: str | None
    namespace: str
    user: str  # the best local name for the requester; the API server may know better
    server: str | None = None


# --------------------------------------------------------------------------- paths


def kubeconfig_paths(explicit: str | None, environ: Mapping[str, str]) -> list[str]:
    """--kubeconfig, else every entry of $KUBECONFIG, else ~/.kube/config."""
    if explicit:
        return [os.path.expanduser(explicit)]
    listed = environ.get("KUBECONFIG", "")
    if listed:
        return [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
    return [os.path.expanduser(DEFAULT_KUBECONFIG)]


def merge_kubeconfigs(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Merge (path, parsed file) pairs the way kubectl does: the first definition wins.

    Each named entry remembers the file it came from, because relative certificate
    paths are relative to that file.
    """
    merged: dict[str, Any] = {"clusters": {}, "contexts": {}, "users": {}}
    current: str | None = None
    for path, doc in documents:
        if current is None and doc.get("current-context"):
            current = str(doc["current-context"])
        for section, key in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
            for entry in doc.get(section) or []:
                name = entry.get("name")
                if isinstance(name, str) and name not in merged[section]:
                    merged[section][name] = {"body": entry.get(key) or {}, "file": path}
    merged["current-context"] = current
    return merged


def load_kubeconfigs(paths: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    documents = []
    for path in paths:
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                doc = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as exc:
            raise KubeconfigError(f"cannot read kubeconfig {path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise KubeconfigError(f"kubeconfig {path} is empty or not a mapping")
        documents.append((path, doc))
    return documents


# --------------------------------------------------------------------------- context


def discover(
    explicit: str | None,
    context: str | None,
    namespace: str | None,
    environ: Mapping[str, str],
) -> Target:
    """The target from kubeconfig files, else from a mounted service account."""
    paths = kubeconfig_paths(explicit, environ)
    documents = load_kubeconfigs(paths)
    if documents:
        merged = merge_kubeconfigs(documents)
        return resolve_target(merged, [p for p, _ in documents], context, namespace)
    if explicit:
        raise KubeconfigError(f"kubeconfig {paths[0]} does not exist")
    if environ.get("KUBERNETES_SERVICE_HOST") and not context:
        return in_cluster_target(namespace)
    looked = ", ".join(paths)
    raise KubeconfigError(
        f"no kubeconfig found (looked at {looked}) and not running inside a cluster: "
        "pass --kubeconfig FILE or set KUBECONFIG"
    )


def resolve_target(
    merged: Mapping[str, Any],
    files: Sequence[str],
    context: str | None,
    namespace: str | None,
) -> Target:
    """Pick the context (--context or current-context) and what it implies."""
    name = context or merged.get("current-context")
    contexts: Mapping[str, Any] = merged["contexts"]
    if not name:
        raise KubeconfigError(
            "the kubeconfig has no current context: pass --context NAME "
            "or run `kubectl config use-context NAME`"
        )
    if name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise KubeconfigError(f'context "{name}" not found in kubeconfig (contexts: {known})')
    ctx = contexts[name]["body"]
    user_name = str(ctx.get("user") or "")
    cluster = merged["clusters"].get(str(ctx.get("cluster") or ""), {}).get("body", {})
    user_entry = merged["users"].get(user_name)
    cn = None
    if user_entry is not None:
        cn = client_certificate_cn(user_entry["body"], Path(user_entry["file"]).parent)
    return Target(
        config_files=tuple(files),
        context=str(name),
        namespace=namespace or str(ctx.get("namespace") or DEFAULT_NAMESPACE),
        # A certificate's CN is the user name the API server authenticates; the
        # kubeconfig entry name is only a local label, used when there is nothing better.
        user=cn or user_name or "unknown",
        server=cluster.get("server"),
    )


def in_cluster_target(namespace: str | None, sa_dir: Path = SERVICE_ACCOUNT_DIR) -> Target:
    """Inside a pod: the mounted service account's namespace and name."""
    ns = namespace
    if ns is None:
        try:
            ns = (sa_dir / "namespace").read_text(encoding="utf-8").strip() or None
        except OSError:
            ns = None
    try:
        user = service_account_from_token((sa_dir / "token").read_text(encoding="utf-8"))
    except OSError:
        user = None
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    return Target(
        config_files=(),
        context=None,
        namespace=ns or DEFAULT_NAMESPACE,
        user=user or "in-cluster service account",
        server=f"https://{host}:{port}" if host else None,
    )


def service_account_from_token(token: str) -> str | None:
    """The subject of a service-account JWT (system:serviceaccount:NS:NAME), unverified:
    it only names the requester, the API server does the verifying."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) and sub else None


# --------------------------------------------------------------------------- certificates


def client_certificate_cn(user: Mapping[str, Any], base_dir: Path) -> str | None:
    """CN of the user's client certificate (inline data or a file), if it has one."""
    pem: bytes | None = None
    data = user.get("client-certificate-data")
    path = user.get("client-certificate")
    try:
        if isinstance(data, str) and data:
            pem = base64.b64decode(data)
        elif isinstance(path, str) and path:
            pem = (base_dir / os.path.expanduser(path)).read_bytes()
    except (OSError, binascii.Error, ValueError):
        return None
    if pem is None:
        return None
    der = pem_to_der(pem)
    return certificate_common_name(der) if der is not None else None


def pem_to_der(pem: bytes) -> bytes | None:
    text = pem.decode("ascii", errors="replace")
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = text.find(begin)
    stop = text.find(end, start + 1)
    if start < 0 or stop < 0:
        return None
    body = "".join(text[start + len(begin) : stop].split())
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


_OID_COMMON_NAME = bytes([0x55, 0x04, 0x03])  # 2.5.4.3
_SEQUENCE, _SET, _OID, _CONTEXT_0 = 0x30, 0x31, 0x06, 0xA0
_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be"}


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at pos."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        element = _tlv(data, start)
        out.append(element)
        start = element[2]
    return out


def certificate_common_name(der: bytes) -> str | None:
    """The subject CN of an X.509 certificate.

    A few dozen lines of DER walking instead of a dependency on `cryptography`, which
    the kubernetes client does not pull in.
    """
    try:
        tag, start, _ = _tlv(der, 0)
        if tag != _SEQUENCE:
            return None
        tbs_tag, tbs_start, tbs_end = _tlv(der, start)
        if tbs_tag != _SEQUENCE:
            return None
        fields = _children(der, tbs_start, tbs_end)
        if fields and fields[0][0] == _CONTEXT_0:  # explicit version; absent in v1 certs
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject
        if len(fields) < 5 or fields[4][0] != _SEQUENCE:
            return None
        _, subject_start, subject_end = fields[4]
        for rdn_tag, rdn_start, rdn_end in _children(der, subject_start, subject_end):
            if rdn_tag != _SET:
                continue
            for _, atv_start, atv_end in _children(der, rdn_start, rdn_end):
                parts = _children(der, atv_start, atv_end)
                if len(parts) != 2 or parts[0][0] != _OID:
                    continue
                if der[parts[0][1] : parts[0][2]] != _OID_COMMON_NAME:
                    continue
                value_tag, value_start, value_end = parts[1]
                encoding = _STRING_TAGS.get(value_tag)
                if encoding is None:
                    return None
                return der[value_start:value_end].decode(encoding, errors="replace")
    except ValueError:
        return None
    return None
