"""How the CLI picks its cluster, namespace and requester identity from kubeconfig."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelguard.cli.kubeconfig import (
    KubeconfigError,
    certificate_common_name,
    client_certificate_cn,
    discover,
    in_cluster_target,
    kubeconfig_paths,
    merge_kubeconfigs,
    pem_to_der,
    resolve_target,
    service_account_from_token,
)

# Real certificates made with `openssl req -x509` / `openssl x509 -req`; they are test
# fixtures only (their keys were thrown away).
# v3, self-signed: subject O=system:masters, O=sre, CN=alice@example.com
ALICE_PEM = b"""-----BEGIN CERTIFICATE-----
MIIB3jCCAYOgAwIBAgIUZMHlJ/xzV5Grwb2rsCHJ3H4IkXgwCgYIKoZIzj0EAwIw
QzEXMBUGA1UECgwOc3lzdGVtOm1hc3RlcnMxDDAKBgNVBAoMA3NyZTEaMBgGA1UE
AwwRYWxpY2VAZXhhbXBsZS5jb20wIBcNMjYxMTI2MTU1MjQ3WhgPMjEyNjExMDIx
NTUyNDdaMEMxFzAVBgNVBAoMDnN5c3RlbTptYXN0ZXJzMQwwCgYDVQQKDANzcmUx
GjAYBgNVBAMMEWFsaWNlQGV4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEkpO1u1iMFVy/gp8UWBT9C9SqF7c8m4aQBtd/2Xg+gfMDsUjw44vwd2u+
RXwuX8J/5zm9y6zAheTXgBiqLY8AUKNTMFEwHQYDVR0OBBYEFHxR6vO09iJDn47F
piN5U0p37VBdMB8GA1UdIwQYMBaAFHxR6vO09iJDn47FpiN5U0p37VBdMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhANxZ1SXjYlEoD6OTbm5n4VVw
Sm2GNEC6QuFYNdwZW434AiEArbfka0eNDC3ckaqHCHLWxwGr+r+oMbmiQKt5RypN
mdo=
-----END CERTIFICATE-----
"""
# v1 (no version field), issued by CN=modelguard-test-ca: subject O=sre, CN=bob
BOB_PEM = b"""-----BEGIN CERTIFICATE-----
MIIBNTCB3AIUEVV/DiyMmcdEcIHpjf22jgPBzT4wCgYIKoZIzj0EAwIwHTEbMBkG
A1UEAwwSbW9kZWxndWFyZC10ZXN0LWNhMCAXDTI2MTEyNjE1NTI0OVoYDzIxMjYx
MTAyMTU1MjQ5WjAcMQwwCgYDVQQKDANzcmUxDDAKBgNVBAMMA2JvYjBZMBMGByqG
SM49AgEGCCqGSM49AwEHA0IABIzyGOGkWWkYXEQJAaBWNM11XJCMxSnQESITIMHp
sxrbq4nQA6X2Bk6g4+BZ3OvtQ5k35ait5D2C6F8DoMbJYrQwCgYIKoZIzj0EAwID
SAAwRQIgI0gPHa2bYZl7z3K1IqCOtOz2ARDK5AA6TIXm07tbHY4CIQC7hHv8mZI/
oCQtuHZkVIqFTd4COUNDOV+7oZAC5ucbzQ==
-----END CERTIFICATE-----
"""


def _der(pem: bytes) -> bytes:
    der = pem_to_der(pem)
    assert der is not None
    return der


# --------------------------------------------------------------------------- certificates


def test_common_name_of_a_v3_certificate() -> None:
    assert certificate_common_name(_der(ALICE_PEM)) == "alice@example.com"


def test_common_name_is_the_subjects_not_the_issuers() -> None:
    assert certificate_common_name(_der(BOB_PEM)) == "bob"


@pytest.mark.parametrize(
    "der",
    [b"", b"\x30", b"\x30\x05\x02\x01\x01", b"\x04\x00", b"\x30\x84\xff\xff\xff\xff"],
)
def test_garbage_is_no_common_name_and_no_crash(der: bytes) -> None:
    assert certificate_common_name(der) is None


def test_every_truncation_of_a_certificate_is_handled() -> None:
    der = _der(ALICE_PEM)
    for cut in range(len(der)):
        certificate_common_name(der[:cut])  # must not raise


def test_pem_without_a_certificate_block() -> None:
    assert pem_to_der(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") is None
    assert pem_to_der(b"not pem at all") is None


def test_client_certificate_from_inline_data_and_from_a_relative_file(tmp_path: Path) -> None:
    inline = {"client-certificate-data": base64.b64encode(ALICE_PEM).decode()}
    assert client_certificate_cn(inline, tmp_path) == "alice@example.com"
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "bob.crt").write_bytes(BOB_PEM)
    assert client_certificate_cn({"client-certificate": "certs/bob.crt"}, tmp_path) == "bob"
    assert client_certificate_cn({"client-certificate": "missing.crt"}, tmp_path) is None
    assert client_certificate_cn({"token": "abc"}, tmp_path) is None
    assert client_certificate_cn({"client-certificate-data": "!!notbase64"}, tmp_path) is None


# --------------------------------------------------------------------------- kubeconfig


def _kubeconfig(
    *,
    current: str | None = "dev",
    namespace: str | None = "team-a",
    user: dict[str, Any] | None = None,
    user_name: str = "dev-user",
) -> dict[str, Any]:
    context: dict[str, Any] = {"cluster": "dev-cluster", "user": user_name}
    if namespace:
        context["namespace"] = namespace
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dev-cluster", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "contexts": [{"name": "dev", "context": context}],
        "users": [{"name": user_name, "user": user if user is not None else {"token": "t"}}],
    }
    if current:
        doc["current-context"] = current
    return doc


def test_paths_explicit_then_env_list_then_home() -> None:
    assert kubeconfig_paths("/x/config", {"KUBECONFIG": "/a:/b"}) == ["/x/config"]
    assert kubeconfig_paths(None, {"KUBECONFIG": "/a::/b"}) == ["/a", "/b"]
    assert kubeconfig_paths(None, {})[0].endswith("/.kube/config")


def test_token_user_is_named_by_its_kubeconfig_entry() -> None:
    merged = merge_kubeconfigs([("/k", _kubeconfig())])
    target = resolve_target(merged, ["/k"], None, None)
    assert target.context == "dev"
    assert target.namespace == "team-a"
    assert target.user == "dev-user"
    assert target.server == "https://127.0.0.1:6443"


def test_certificate_user_is_named_by_the_certificate_cn() -> None:
    user = {"client-certificate-data": base64.b64encode(ALICE_PEM).decode()}
    merged = merge_kubeconfigs([("/k", _kubeconfig(user=user, user_name="kind-admin"))])
    assert resolve_target(merged, ["/k"], None, None).user == "alice@example.com"


def test_namespace_flag_wins_and_default_is_default() -> None:
    merged = merge_kubeconfigs([("/k", _kubeconfig(namespace=None))])
    assert resolve_target(merged, ["/k"], None, None).namespace == "default"
    assert resolve_target(merged, ["/k"], None, "prod").namespace == "prod"


def test_unknown_context_lists_the_known_ones() -> None:
    merged = merge_kubeconfigs([("/k", _kubeconfig())])
    with pytest.raises(KubeconfigError, match=r'context "nope" not found.*contexts: dev'):
        resolve_target(merged, ["/k"], "nope", None)


def test_no_current_context_says_how_to_choose_one() -> None:
    merged = merge_kubeconfigs([("/k", _kubeconfig(current=None))])
    with pytest.raises(KubeconfigError, match="--context"):
        resolve_target(merged, ["/k"], None, None)


def test_merge_first_definition_wins_like_kubectl() -> None:
    first = _kubeconfig(namespace="first")
    second = _kubeconfig(namespace="second", current="other")
    second["contexts"].append({"name": "other", "context": {"cluster": "c", "user": "u"}})
    merged = merge_kubeconfigs([("/1", first), ("/2", second)])
    assert merged["current-context"] == "dev"
    assert merged["contexts"]["dev"]["body"]["namespace"] == "first"
    assert merged["contexts"]["other"]["file"] == "/2"


def test_discover_reads_files_and_explains_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(_kubeconfig()))
    target = discover(None, None, None, {"KUBECONFIG": f"{tmp_path}/absent:{path}"})
    assert target.config_files == (str(path),)
    assert target.namespace == "team-a"
    with pytest.raises(KubeconfigError, match="does not exist"):
        discover(str(tmp_path / "absent"), None, None, {})
    with pytest.raises(KubeconfigError, match=r"no kubeconfig found.*--kubeconfig"):
        discover(None, None, None, {"KUBECONFIG": str(tmp_path / "absent")})


def test_discover_rejects_a_kubeconfig_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("- just\n- a list\n")
    with pytest.raises(KubeconfigError, match="not a mapping"):
        discover(str(path), None, None, {})


# --------------------------------------------------------------------------- in cluster


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.signature"


def test_service_account_token_subject() -> None:
    sub = "system:serviceaccount:ops:oncall-bot"
    assert service_account_from_token(_jwt({"sub": sub}) + "\n") == sub
    assert service_account_from_token("not-a-jwt") is None
    assert service_account_from_token("a.%%%.c") is None
    assert service_account_from_token(_jwt({"iss": "x"})) is None


def test_in_cluster_target_reads_the_mounted_service_account(tmp_path: Path) -> None:
    (tmp_path / "namespace").write_text("ops\n")
    (tmp_path / "token").write_text(_jwt({"sub": "system:serviceaccount:ops:bot"}))
    target = in_cluster_target(None, tmp_path)
    assert (target.namespace, target.user, target.config_files) == (
        "ops",
        "system:serviceaccount:ops:bot",
        (),
    )
    assert in_cluster_target("other", tmp_path).namespace == "other"
    assert in_cluster_target(None, tmp_path / "absent").namespace == "default"
