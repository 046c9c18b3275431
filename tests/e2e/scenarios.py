"""Building blocks shared by the operator's end-to-end scenarios."""

from __future__ import annotations

from typing import Any

DEPLOYMENT = "fraud-scorer"


def image(version: str) -> str:
    return f"registry.local/fraud-scorer:{version.lstrip('v')}.0"


def version(name: str) -> dict[str, str]:
    """A desired version: image and model tag move together."""
    return {"image": image(name), "modelTag": name}


def user_checks(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """A lastEvaluation's results of the spec's checks, without the built-in rollout one."""
    return [c for c in evaluation.get("checks", []) if c["name"] != "rollout"]


def accuracy_spec(
    prometheus_url: str,
    model: str,
    desired: str | None,
    *,
    interval: str = "1s",
    warmup: str = "2s",
    failure_threshold: int = 2,
    promote_after: str = "2s",
    no_data: str = "hold",
    automatic: bool = True,
    cooldown: str = "0s",
    extra_checks: list[dict[str, Any]] | None = None,
    kill_switch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ModelDeployment spec with one absolute accuracy check (min 0.9)."""
    spec: dict[str, Any] = {
        "targetRef": {"name": DEPLOYMENT, "container": "server"},
        "analysis": {
            "prometheus": {"url": prometheus_url, "timeout": "2s"},
            "interval": interval,
            "warmup": warmup,
            "failureThreshold": failure_threshold,
            "promoteAfter": promote_after,
            "noData": no_data,
            "checks": [
                {
                    "name": "accuracy",
                    "query": f'model_accuracy{{model="{model}",version="{{{{version}}}}"}}',
                    "min": 0.9,
                },
                *(extra_checks or []),
            ],
        },
        "rollback": {"automatic": automatic, "cooldown": cooldown},
    }
    if desired is not None:
        spec["version"] = version(desired)
    if kill_switch is not None:
        spec["killSwitch"] = kill_switch
    return spec
