"""Every reason the operator writes that users (alerts, `kubectl wait`, scripts) match on.

The string values are API: they appear in status conditions, in Events and in check
results, and must never change. StrEnum members are plain strings on the wire (pydantic
stores them as str; f-strings, logs and label values show the value).
"""

from __future__ import annotations

from enum import StrEnum


class ConditionReason(StrEnum):
    """status.conditions[].reason."""

    # InvalidSpec
    VALID = "Valid"
    INVALID_SPEC = "InvalidSpec"
    # InvalidSpec=True and Ready=False: Prometheus rejected a check's query as bad PromQL.
    INVALID_QUERY = "InvalidQuery"
    # KillSwitchEngaged
    TRAFFIC_ON_FALLBACK = "TrafficOnFallback"
    FALLBACK_UNAVAILABLE = "FallbackUnavailable"
    SCALED_TO_ZERO = "ScaledToZero"
    RELEASED = "Released"
    # DryRun
    DRY_RUN = "DryRun"
    # Degraded
    CHECKS_FAILING = "ChecksFailing"
    CHECKS_PASSING = "ChecksPassing"
    NOT_EVALUATED = "NotEvaluated"  # also MetricsAvailable
    # RolledBack
    ROLLED_BACK = "RolledBack"  # also Ready
    DESIRED_VERSION_QUARANTINED = "DesiredVersionQuarantined"
    NEW_VERSION = "NewVersion"
    NO_ROLLBACK = "NoRollback"
    DESIRED_IS_KNOWN_GOOD = "DesiredIsKnownGood"
    GITOPS_CONFLICT = "GitOpsConflict"
    # MetricsAvailable (False carries a CheckReason: NoData, QueryError, AmbiguousResult)
    QUERIES_ANSWERED = "QueriesAnswered"
    # Ready
    TARGET_NOT_FOUND = "TargetNotFound"
    KILLED = "Killed"
    APPLYING = "Applying"
    DEGRADED = "Degraded"
    NO_ANALYSIS = "NoAnalysis"
    KNOWN_GOOD = "KnownGood"
    ANALYSING = "Analysing"
    CANARY = "Canary"  # Ready: a canary runs beside the stable version
    # Canary (only written while spec.canary or status.canary is there)
    CANARY_PROGRESSING = "CanaryProgressing"
    CANARY_NOT_READY = "CanaryNotReady"
    CANARY_WEIGHT_UNREACHABLE = "CanaryWeightUnreachable"
    CANARY_PAUSED = "CanaryPaused"
    CANARY_PROMOTING = "CanaryPromoting"
    CANARY_PROMOTED = "CanaryPromoted"
    CANARY_ABORTED = "CanaryAborted"  # also RolledBack
    CANARY_CANCELLED = "CanaryCancelled"
    ROUTE_MISCONFIGURED = "RouteMisconfigured"


class EventReason(StrEnum):
    """Kubernetes Event reasons (also the label of modelguard_decisions_total)."""

    INVALID_SPEC = "InvalidSpec"
    TARGET_NOT_FOUND = "TargetNotFound"
    ADOPTED = "Adopted"
    VERSION_APPLIED = "VersionApplied"
    VERSION_DETECTED = "VersionDetected"
    QUARANTINED_VERSION_DEPLOYED = "QuarantinedVersionDeployed"
    DRIFT_REVERTED = "DriftReverted"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    VERSION_PROMOTED = "VersionPromoted"
    CHECK_FAILED = "CheckFailed"
    DEGRADATION_DETECTED = "DegradationDetected"
    NO_ROLLBACK_TARGET = "NoRollbackTarget"
    ROLLBACK_DEFERRED = "RollbackDeferred"
    ROLLED_BACK = "RolledBack"
    ROLLBACK_REQUEST_REJECTED = "RollbackRequestRejected"
    KILL_SWITCH_ENGAGED = "KillSwitchEngaged"
    KILL_SWITCH_ENFORCED = "KillSwitchEnforced"
    KILL_SWITCH_RELEASED = "KillSwitchReleased"
    FALLBACK_SERVICE_NOT_FOUND = "FallbackServiceNotFound"
    FALLBACK_UNAVAILABLE = "FallbackUnavailable"
    CANARY_STARTED = "CanaryStarted"
    CANARY_STEP_ADVANCED = "CanaryStepAdvanced"
    CANARY_WEIGHT_UNREACHABLE = "CanaryWeightUnreachable"
    CANARY_PROMOTED = "CanaryPromoted"
    CANARY_COMPLETED = "CanaryCompleted"
    CANARY_ABORTED = "CanaryAborted"
    CANARY_CANCELLED = "CanaryCancelled"
    ROUTE_MISCONFIGURED = "RouteMisconfigured"
    RESTORED_ON_DELETE = "RestoredOnDelete"  # posted on the Deployment: the object is gone


class CheckReason(StrEnum):
    """status.lastEvaluation.checks[].reason: why a check got its verdict."""

    WITHIN_THRESHOLD = "WithinThreshold"
    THRESHOLD_BREACHED = "ThresholdBreached"
    NO_BASELINE = "NoBaseline"
    # The check's query or samplesQuery compares with {{stableVersion}} and there is no
    # known-good version other than the current one yet: not judged, not missing data.
    NO_STABLE_VERSION = "NoStableVersion"
    TOO_FEW_SAMPLES = "TooFewSamples"
    # Proportion checks (core.proportion): the test's three outcomes, and counts that
    # cannot be (successes above total, negative), a query mix-up that must not judge.
    WITHIN_MARGIN = "WithinMargin"
    WORSE_THAN_MARGIN = "WorseThanMargin"
    UNDECIDED = "Undecided"
    INCONSISTENT_COUNTS = "InconsistentCounts"
    # Prometheus rejected the query itself (400 bad_data): a spec problem, not missing
    # data, so noData never reinterprets it and it never counts toward a rollback.
    INVALID_QUERY = "InvalidQuery"
    # The built-in rollout check (core.rollout).
    ROLLOUT_COMPLETE = "RolloutComplete"
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    ROLLOUT_STUCK = "RolloutStuck"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    # Missing data: noData=fail|pass may reinterpret these (see evaluation.overall).
    NO_DATA = "NoData"
    QUERY_ERROR = "QueryError"
    AMBIGUOUS_RESULT = "AmbiguousResult"
