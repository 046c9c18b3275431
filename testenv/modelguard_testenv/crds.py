"""Waiting for a CRD to be served, the way every test and benchmark needs after applying one."""

from __future__ import annotations

from modelguard_testenv.controlplane import ControlPlane
from modelguard_testenv.waiting import wait_for

__all__ = ["wait_established"]


def wait_established(plane: ControlPlane, crd: str, *, timeout: float = 60.0) -> None:
    """Wait until ``crd`` (e.g. ``modeldeployments.modelguard.io``) is Established.

    ``kubectl wait --for=condition=Established`` alone is not enough: right after the
    apply the CRD may have no conditions yet, which kubectl reports as an error
    (".status.conditions accessor error") instead of waiting, so it is retried.
    """
    argv = ("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=5s")
    wait_for(
        lambda: plane.kubectl(*argv, check=False).returncode == 0,
        timeout=timeout,
        interval=0.5,
        what=f"CRD {crd} to be Established",
    )
