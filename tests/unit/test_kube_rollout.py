"""The kube adapter's reading of a Deployment's rollout (status as the API server sends it)."""

from __future__ import annotations

from typing import Any

from modelguard.adapters.kube import _rollout
from modelguard.core.rollout import incomplete
from modelguard.core.workload import Progressing, Workload


def deployment(status: dict[str, Any], generation: int = 2) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": 3}, "status": status}


def test_a_stuck_rolling_update() -> None:
    read = _rollout(
        deployment(
            {
                "observedGeneration": 2,
                "replicas": 4,
                "updatedReplicas": 1,
                "readyReplicas": 3,
                "availableReplicas": 3,
                "unavailableReplicas": 1,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": 'ReplicaSet "fraud-7d9" has timed out progressing.',
                        "lastTransitionTime": "2026-03-01T12:10:00Z",
                    },
                ],
            }
        )
    )
    assert read == {
        "updated_replicas": 1,
        "available_replicas": 3,
        "total_replicas": 4,
        "rollout_observed": True,
        "progressing": Progressing(
            "False", "ProgressDeadlineExceeded", 'ReplicaSet "fraud-7d9" has timed out progressing.'
        ),
    }
    assert incomplete(Workload(exists=True, replicas=3, **read)) == "1/3 pods updated"


def test_absent_counts_are_zero_and_an_unseen_generation_is_not_observed() -> None:
    """The API server leaves out zero counts; a Deployment just created has no status."""
    read = _rollout(deployment({"observedGeneration": 1}))
    assert read == {
        "updated_replicas": 0,
        "available_replicas": 0,
        "total_replicas": 0,
        "rollout_observed": False,
        "progressing": None,
    }
    assert _rollout(deployment({}, generation=1))["rollout_observed"] is False
