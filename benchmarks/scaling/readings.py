"""What the scale benchmark reads, always from the side that did the work: the operator's
CPU and memory from /proc, its API requests from the API server's audit log, Prometheus'
queries from Prometheus' own counters, evaluations and lag from the operator's /metrics."""

from __future__ import annotations

import json
import math
import os
import urllib.request
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

# Who the operator is to the API server (deploy/base/rbac.yaml's ServiceAccount).
OPERATOR_USER = "system:serviceaccount:modelguard-system:modelguard"
LAG_METRIC = "modelguard_evaluation_lag_seconds"

# ------------------------------------------------------------------ /proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (the operator runs no children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS now, peak RSS since start: the kernel's VmHWM), in MB (10^6 bytes)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024 / 1e6
    return values["VmRSS"], values["VmHWM"]


# ------------------------------------------------------------------ audit log

AUDIT_POLICY = f"""apiVersion: audit.k8s.io/v1
kind: Policy
# One line per finished request (a watch: when it starts), and only the operator's:
# everything else (the benchmark, the controllers, kwok) would drown it.
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    users: ["{OPERATOR_USER}"]
  - level: None
"""


def audit_args(workdir: Path) -> tuple[list[str], Path]:
    """kube-apiserver flags for an audit log of the operator's requests, and its path."""
    policy = workdir / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    path = workdir / "audit.log"
    flags = [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={path}",
        "--audit-log-format=json",
        "--audit-log-maxsize=0",  # no rotation: one file for the whole run
    ]
    return flags, path


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _of_a_kill(ref: dict[str, str], at: float, spans: Sequence[tuple[str, float, float]]) -> bool:
    """Whether a request was a kill's or its release's own work: on the killed model's
    objects (or its Events, named after it; or the HPA lookup, which names nothing)
    while that kill was under way."""
    name = ref.get("name", "")
    for killed, start, end in spans:
        if start <= at < end and (
            name == killed
            or name.startswith(killed + ".")
            or (not name and ref.get("resource") == "horizontalpodautoscalers")
        ):
            return True
    return False


def audit_requests(
    path: Path,
    start: float,
    end: float,
    spans: Sequence[tuple[str, float, float]] = (),
    offset: int = 0,
) -> tuple[Counter[str], Counter[str]]:
    """The operator's requests that finished in [start, end) (wall clock), by
    "verb resource[/subresource]", a watch once, when it was opened: all of them, and
    those of the kills in ``spans`` (model, from, to). ``offset``: where to start reading
    (the file's size when the window began: a 5000-model run writes hundreds of MB)."""
    counts: Counter[str] = Counter()
    kills: Counter[str] = Counter()
    if not path.exists():
        return counts, kills
    with path.open("rb") as handle:
        if offset:
            # From the byte before: if that ends a line, readline() consumes just it; if
            # not, the rest of the line the offset cut (it finished before the window).
            handle.seek(offset - 1)
            handle.readline()
        for line in handle:
            event = json.loads(line)
            watch = event.get("verb") == "watch"
            if event.get("stage") != ("ResponseStarted" if watch else "ResponseComplete"):
                continue
            if event.get("user", {}).get("username") != OPERATOR_USER:
                continue
            at = _timestamp(event["stageTimestamp"])
            if not start <= at < end:
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource") or event.get("requestURI", "?").split("?")[0]
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            key = f"{event['verb']} {resource}"
            counts[key] += 1
            if _of_a_kill(ref, at, spans):
                kills[key] += 1
    return counts, kills


# ------------------------------------------------------------------ Prometheus text


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode("utf-8"))


def _labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split('",'):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip().strip('"')
    return out


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of metric ``name`` (exactly that name) in an exposition."""
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if "{" in head:
            metric, _, labels = head.partition("{")
            labels = labels.rstrip("}")
        else:
            metric, labels = head, ""
        if metric == name:
            out.append((_labels(labels), float(value)))
    return out


def total(text: str, name: str, **match: str) -> float:
    return sum(
        v for labels, v in samples(text, name) if all(labels.get(k) == x for k, x in match.items())
    )


def lag_buckets(text: str) -> dict[float, float] | None:
    """Cumulative bucket counts of the done-stage lag histogram; None when the operator
    does not export it."""
    found = [
        (labels, v)
        for labels, v in samples(text, f"{LAG_METRIC}_bucket")
        if labels.get("stage") == "done"
    ]
    if not found:
        return None
    buckets: dict[float, float] = {}
    for labels, v in found:
        bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
        buckets[bound] = buckets.get(bound, 0.0) + v
    return buckets


def bucket_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """histogram_quantile's linear interpolation in cumulative buckets; a quantile in the
    +Inf bucket is reported as the highest finite bound (a lower limit)."""
    bounds = sorted(buckets)
    count = buckets[bounds[-1]] if bounds else 0.0
    if count <= 0:
        return None
    rank = q * count
    lower, below = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if math.isinf(bound):
                return lower
            inside = buckets[bound] - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, buckets[bound]
    return lower


def bucket_max(buckets: dict[float, float]) -> float | None:
    """The upper bound of the highest bucket that gained observations: the histogram
    knows the max only that far (the last finite bound, if it is in +Inf)."""
    bounds = sorted(buckets)
    previous = 0.0
    top: float | None = None
    for bound in bounds:
        if buckets[bound] > previous:
            top = bound
        previous = buckets[bound]
    if top is not None and math.isinf(top):
        finite = [b for b in bounds if not math.isinf(b)]
        return finite[-1] if finite else None
    return top
