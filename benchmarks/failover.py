"""Forced failovers: SIGKILL the leader, engage a kill switch at once, time the takeover.

    python -m benchmarks.failover [--rounds 20] [--lease 15 --renew 10 --retry 2]

(from the repository root, after `source hack/setup.sh`.) Two real operator processes
(the ServiceAccount of deploy/base/rbac.yaml) share one Lease on the local control plane; one
model per round is guarded (kill switch only, a 1-replica Deployment on kwok). Each round:
SIGKILL the replica holding the Lease, patch that round's model's kill switch on right after (nobody
leads at that moment), and poll every 50 ms until the other replica holds the Lease
(takeover) and the Deployment is at 0 replicas (enforcement); then restart the killed
replica as the new standby. The defaults are client-go's timings, the ones the product
promises (kill enforced within lease duration + 2 s); shorter ones can be given.

Afterwards every Event the operator posted is checked: exactly one KillSwitchEngaged per
model, no two Events with the same reason on the same object, every model engaged once in
its status history. Results: benchmarks/results/failover.json; figures printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from benchmarks.killswitch.report import machine_facts
from modelguard.core import api
from modelguard_testenv import ControlPlane, wait_established, wait_for
from modelguard_testenv.recording import as_json
from modelguard_testenv.replicas import Replicas

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_NAMESPACE = "modelguard-system"
NAMESPACE = "failover"
RESULTS = ROOT / "benchmarks" / "results" / "failover.json"
POLL = 0.05


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lease", type=float, default=15.0, help="lease duration, s")
    parser.add_argument("--renew", type=float, default=10.0, help="renew deadline, s")
    parser.add_argument("--retry", type=float, default=2.0, help="retry period, s")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def install(plane: ControlPlane, models: int) -> None:
    plane.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    wait_established(plane, "modeldeployments.modelguard.io")
    plane.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    plane.kubectl("apply", "-f", str(ROOT / "deploy" / "base" / "rbac.yaml"))
    plane.kubectl("create", "namespace", NAMESPACE)
    with plane.api_client() as c:
        apps, custom = k8s.AppsV1Api(c), k8s.CustomObjectsApi(c)
        for i in range(models):
            name = f"m{i:02d}"
            labels = {"app": name}
            apps.create_namespaced_deployment(
                NAMESPACE,
                k8s.V1Deployment.model_validate(
                    {
                        "metadata": {"name": name},
                        "spec": {
                            "replicas": 1,
                            "selector": {"matchLabels": labels},
                            "template": {
                                "metadata": {"labels": labels},
                                "spec": {"containers": [{"name": "server", "image": "scorer:1"}]},
                            },
                        },
                    }
                ),
            )
            custom.create_namespaced_custom_object(
                api.GROUP,
                api.VERSION,
                NAMESPACE,
                api.PLURAL,
                {
                    "apiVersion": f"{api.GROUP}/{api.VERSION}",
                    "kind": api.KIND,
                    "metadata": {"name": name},
                    "spec": {"targetRef": {"name": name}},
                },
            )


def adopted(plane: ControlPlane, models: int) -> bool:
    with plane.api_client() as c:
        listed = as_json(
            k8s.CustomObjectsApi(c).list_namespaced_custom_object(
                api.GROUP, api.VERSION, NAMESPACE, api.PLURAL
            )
        )
    return sum(1 for o in listed["items"] if (o.get("status") or {}).get("phase")) == models


def one_round(
    plane: ControlPlane, replicas: Replicas, model: str, timeout: float
) -> dict[str, Any]:
    leader = wait_for(replicas.leader, timeout=timeout, interval=POLL, what="a leader")
    [standby] = replicas.others(leader)
    with plane.api_client() as c:
        apps, custom = k8s.AppsV1Api(c), k8s.CustomObjectsApi(c)
        leader.kill()
        killed = time.monotonic()
        custom.patch_namespaced_custom_object(
            api.GROUP, api.VERSION, NAMESPACE, api.PLURAL, model,
            {"spec": {"killSwitch": {"enabled": True, "reason": f"failover {model}"}}},
        )  # fmt: skip
        engaged = time.monotonic() - killed
        takeover = enforced = None
        while takeover is None or enforced is None:
            now = time.monotonic() - killed
            if now > timeout:
                raise TimeoutError(f"round {model}: takeover {takeover}, enforced {enforced}")
            if takeover is None and replicas.holder() == standby.identity:
                takeover = now
            if (
                enforced is None
                and apps.read_namespaced_deployment(model, NAMESPACE).spec.replicas == 0
            ):
                enforced = now
            time.sleep(POLL)
    leader.start()  # the killed replica comes back, as a standby
    return {
        "model": model,
        "killed": leader.identity,
        "new_leader": standby.identity,
        "engage_patch_s": round(engaged, 3),
        "takeover_s": round(takeover, 3),
        "enforced_s": round(enforced, 3),
        "enforced_after_takeover_s": round(enforced - takeover, 3),
    }


def check(plane: ControlPlane, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Exactly-once, from what the API server holds: Events and status histories."""
    with plane.api_client() as c:
        events = k8s.CoreV1Api(c).list_namespaced_event(NAMESPACE).items
        listed = as_json(
            k8s.CustomObjectsApi(c).list_namespaced_custom_object(
                api.GROUP, api.VERSION, NAMESPACE, api.PLURAL
            )
        )
    ours = [e for e in events if e.reporting_component == "modelguard"]
    per_object = Counter((e.involved_object.name, e.reason) for e in ours)
    engaged = Counter(e.involved_object.name for e in ours if e.reason == "KillSwitchEngaged")
    killed_models = [r["model"] for r in rounds]
    histories = {
        o["metadata"]["name"]: len((o.get("status") or {}).get("killSwitchHistory") or [])
        for o in listed["items"]
    }
    duplicated = {f"{name} {reason}": n for (name, reason), n in per_object.items() if n > 1}
    return {
        "events": len(ours),
        "duplicated_events": duplicated,
        "engaged_once": all(engaged[m] == 1 for m in killed_models),
        "history_once": all(histories.get(m) == 1 for m in killed_models),
        "events_by_replica": dict(Counter(e.reporting_instance for e in ours)),
    }


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "p50": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = {
        "MODELGUARD_LEASE_DURATION_SECONDS": str(args.lease),
        "MODELGUARD_RENEW_DEADLINE_SECONDS": str(args.renew),
        "MODELGUARD_RETRY_PERIOD_SECONDS": str(args.retry),
    }
    bound = args.lease + 2.0
    with tempfile.TemporaryDirectory(prefix="failover-") as work, ControlPlane() as plane:
        install(plane, args.rounds)
        identity = plane.service_account_credentials(OPERATOR_NAMESPACE, "modelguard")
        facts = machine_facts(plane)
        replicas = Replicas(plane, identity.kubeconfig, Path(work), namespaces=[NAMESPACE], env=env)
        rounds: list[dict[str, Any]] = []
        with replicas.running():
            wait_for(lambda: adopted(plane, args.rounds), timeout=120, what="models adopted")
            for i in range(args.rounds):
                result = one_round(plane, replicas, f"m{i:02d}", timeout=bound + 30)
                rounds.append(result)
                print(
                    f"round {i + 1:2d}: takeover {result['takeover_s']:5.2f}s, kill enforced "
                    f"{result['enforced_s']:5.2f}s after the SIGKILL "
                    f"({result['enforced_after_takeover_s']:.2f}s after the takeover)",
                    flush=True,
                )
            time.sleep(3)  # Events of the last round posted
            checks = check(plane, rounds)
        facts["loadavg_end"] = os.getloadavg()
    takeover = stats([r["takeover_s"] for r in rounds])
    enforced = stats([r["enforced_s"] for r in rounds])
    after = stats([r["enforced_after_takeover_s"] for r in rounds])
    within = sum(1 for r in rounds if r["enforced_s"] <= bound)
    report = {
        "machine": facts,
        "timings": {"lease": args.lease, "renew_deadline": args.renew, "retry": args.retry},
        "bound_s": bound,
        "rounds": rounds,
        "summary": {
            "takeover_s": takeover,
            "enforced_s": enforced,
            "enforced_after_takeover_s": after,
            "enforced_within_bound": f"{within}/{len(rounds)}",
        },
        "checks": checks,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\n{len(rounds)} failovers, lease {args.lease}s / renew {args.renew}s"
        f" / retry {args.retry}s"
    )
    for label, figures in (
        ("takeover", takeover),
        ("kill enforced", enforced),
        ("after takeover", after),
    ):
        print(f"  {label:15s} " + "  ".join(f"{k} {v:.2f}s" for k, v in figures.items()))
    print(f"  kill enforced within lease + 2 s ({bound:.0f}s): {within}/{len(rounds)}")
    print(
        f"  Events: {checks['events']}, duplicated: {checks['duplicated_events'] or 'none'}, "
        f"engaged once per model: {checks['engaged_once']}, history once: {checks['history_once']}"
    )
    print(f"  results: {args.output}")
    ok = within == len(rounds) and not checks["duplicated_events"] and checks["engaged_once"]
    return 0 if ok and checks["history_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
