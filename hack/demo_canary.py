"""The demo's canary act (hack/demo.py runs it after the rollback and kill-switch acts).

A second model, guarded with spec.canary: v2 goes 10 % -> 50 % -> promoted, then v3,
whose labelled accuracy is worse, is aborted at its first step while v2 keeps serving.
The judgement is a proportion check: correct / labelled predictions of the canary
against the stable's, both counted since the canary started ({{sinceStart}}), judged by
a confidence sequence. Both versions' accuracy gauges say 0.95 on purpose: only the
side-by-side counts can see that v3 is worse.
"""

from __future__ import annotations

from collections.abc import Callable

import demo_manifests  # hack/ is on sys.path: the demo's own directory

from modelguard_testenv import ControlPlane, SyntheticModelExporter

MODEL = "recommender"
# 9 stable pods: one canary pod is 10 % of the Ready pods, nine are 50 %.
REPLICAS = 9
# The share of labelled predictions each version gets right (what the counters say).
TRUE_ACCURACY = {"v1": 0.95, "v2": 0.96, "v3": 0.80}
PER_TICK = 40  # labelled outcomes per version every 0.1 s


def manifest(prometheus_url: str, ns: str, version: str) -> str:
    def counter(name: str) -> str:
        labels = f'model="{MODEL}",version="{{{{version}}}}"'
        return f"sum(increase({name}{{{labels}}}[{{{{sinceStart}}}}]))"

    proportion = {
        "successQuery": counter("model_correct_predictions_total"),
        "totalQuery": counter("model_labeled_samples_total"),
        "margin": 0.05,
        "minSamples": 200,
    }
    return demo_manifests.model_deployment(
        MODEL,
        ns,
        version,
        prometheus_url,
        checks=[
            demo_manifests.gauge_check("accuracy", MODEL, 0.9),
            {"name": "accuracy-vs-stable", "proportion": proportion},
        ],
        timing={"interval": "1s", "warmup": "2s", "failureThreshold": 2, "promoteAfter": "3s"},
        canary={
            "steps": [10, 50],
            "stepDuration": "3s",
            "readyDeadline": "60s",
            "maxCanaryReplicas": 10,
        },
    )


Step = Callable[[str], None]
Show = Callable[..., None]
Wait = Callable[[str, Callable[[], object]], None]
Read = Callable[[str, str, str], str]


def run(
    cp: ControlPlane,
    exporter: SyntheticModelExporter,
    prometheus_url: str,
    ns: str,
    *,
    step: Step,
    show: Show,
    wait: Wait,
    read: Read,
) -> None:
    """The act; hack/demo.py passes its printing and waiting helpers in."""
    for name in TRUE_ACCURACY:
        exporter.set(MODEL, name, accuracy=0.95)

    def image() -> str:
        return read("deploy", MODEL, ".spec.template.spec.containers[0].image")

    def at_step(index: int) -> bool:
        ready = read("mdep", MODEL, ".status.canary.readyAt")
        return read("mdep", MODEL, ".status.canary.step") == str(index) and ready != ""

    def events() -> None:
        show(
            "kubectl",
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            f"involvedObject.name={MODEL}",
            "--sort-by=.metadata.creationTimestamp",
        )

    with exporter.feeding(MODEL, TRUE_ACCURACY, PER_TICK):
        step(f"Canary rollouts: a second model, {MODEL}, {REPLICAS} replicas at v1")
        cp.kubectl("apply", "-f", "-", input=demo_manifests.deployment(MODEL, ns, REPLICAS))
        cp.kubectl("apply", "-f", "-", input=manifest(prometheus_url, ns, "v1"))
        wait(
            "v1 promoted to known good",
            lambda: read("mdep", MODEL, ".status.stableVersion.name") == "v1",
        )

        step("v2 as a canary: steps [10, 50], judged against v1 side by side")
        cp.kubectl("apply", "-f", "-", input=manifest(prometheus_url, ns, "v2"))
        wait("step 1 (10 %) Ready", lambda: at_step(0))
        show("modelguard", "status", MODEL, "-n", ns)
        wait("step 2 (50 %) Ready", lambda: at_step(1))
        show("kubectl", "get", "mdep", MODEL, "-n", ns, "-o", "wide")
        show("kubectl", "get", "deploy", "-n", ns)
        wait(
            "v2 promoted: the target runs v2, the canary is gone",
            lambda: image().endswith(":2.0") and read("mdep", MODEL, ".status.canary") == "",
        )
        wait("v2 known good", lambda: read("mdep", MODEL, ".status.stableVersion.name") == "v2")

        step("v3 as a canary: its gauge says 0.95, its labelled outcomes say 0.80")
        cp.kubectl("apply", "-f", "-", input=manifest(prometheus_url, ns, "v3"))
        wait(
            "v3 aborted at step 1, quarantined",
            lambda: (
                read("mdep", MODEL, ".status.quarantinedVersions[*].name") == "v3"
                and read("mdep", MODEL, ".status.canary") == ""
            ),
        )
        wait(
            "the canary Deployment deleted",
            lambda: read("deploy", f"{MODEL}-canary", ".metadata.name") == "",
        )
        if not image().endswith(":2.0"):
            raise RuntimeError(f"v2 should still serve, the target runs {image()}")
        print("    ... v2 still serves: the target Deployment was never touched", flush=True)
        show("modelguard", "status", MODEL, "-n", ns)
        events()
