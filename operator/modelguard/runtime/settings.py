"""Operator settings, from environment variables with the MODELGUARD_ prefix."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    #: Port of the operator's own /metrics; 0 turns it off.
    metrics_port: int = 9102
    #: How many ModelDeployments are reconciled at once (Prometheus queries included).
    concurrency: int = 16
    #: Longest wait before retrying a reconcile that failed (exponential backoff up to it).
    max_backoff_seconds: float = 300.0
    #: Worker threads for the blocking Kubernetes and Prometheus clients, and the size of
    #: the Kubernetes client's connection pool. asyncio's default, min(32, CPUs + 4), is 6
    #: on 2 cores: 16 concurrent reconciles would then queue for threads, not for the API.
    threads: int = 32
    #: Decide and record everything (status, Events, logs) but write nothing to any
    #: Deployment or Service: to watch what the operator would do before trusting it.
    dry_run: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            metrics_port=int(env.get("MODELGUARD_METRICS_PORT", cls.metrics_port)),
            concurrency=int(env.get("MODELGUARD_CONCURRENCY", cls.concurrency)),
            max_backoff_seconds=float(
                env.get("MODELGUARD_MAX_BACKOFF_SECONDS", cls.max_backoff_seconds)
            ),
            threads=int(env.get("MODELGUARD_THREADS", cls.threads)),
            dry_run=_flag(env.get("MODELGUARD_DRY_RUN", "")),
        )


def _flag(value: str) -> bool:
    """true/1/yes (any case) is on; empty, false/0/no is off; anything else is refused,
    so that a typo cannot silently turn dry run off and let the operator write."""
    word = value.strip().lower()
    if word in ("true", "1", "yes"):
        return True
    if word in ("", "false", "0", "no"):
        return False
    raise ValueError(f"MODELGUARD_DRY_RUN must be true or false, not {value!r}")
