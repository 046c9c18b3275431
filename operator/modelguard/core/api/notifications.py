"""spec.notifications and status.notifications: webhook receivers, and what was sent.

A receiver's URL lives in a Secret, never in the spec: a Slack incoming-webhook URL (and
most others) is the credential itself, and a spec is read by everyone who can read the
object, copied into Git, and shown by `kubectl get -o yaml`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from modelguard.core.api.base import ApiModel, DnsLabel, DnsSubdomain

# Bounds on what status keeps: decided-but-undelivered notices (the outbox), and the
# last outcomes (the record that stops a restart from sending one again).
PENDING_NOTICE_LIMIT = 20
DELIVERY_RECORD_LIMIT = 50


class Decision(StrEnum):
    """The decisions a receiver can be told about (the CloudEvents type's last part)."""

    ROLLED_BACK = "rolledBack"
    QUARANTINED = "quarantined"
    KILL_SWITCH_ENGAGED = "killSwitchEngaged"
    KILL_SWITCH_RELEASED = "killSwitchReleased"
    PROMOTED = "promoted"
    # A canary passed a step (the share grows), or failed one (removed, quarantined). Its
    # promotion is `promoted`, sent when the promoted version is known good.
    CANARY_STEP_ADVANCED = "canaryStepAdvanced"
    CANARY_ABORTED = "canaryAborted"


class NotificationFormat(StrEnum):
    CLOUDEVENTS = "cloudevents"
    SLACK = "slack"


class WebhookSecretRef(ApiModel):
    """The key of a Secret in the ModelDeployment's namespace that holds the URL."""

    name: DnsSubdomain
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key whose value is the webhook URL (http or https).",
    )


class Receiver(ApiModel):
    name: DnsLabel = Field(description="Unique name of the receiver (status and logs use it).")
    format: NotificationFormat = Field(
        default=NotificationFormat.CLOUDEVENTS,
        description="cloudevents: CloudEvents 1.0 structured JSON; slack: an incoming-webhook "
        "message (text and blocks).",
    )
    url_secret_ref: WebhookSecretRef = Field(
        description="Secret key holding the webhook URL: a URL is a credential."
    )
    decisions: list[Decision] = Field(
        default_factory=lambda: list(Decision),
        min_length=1,
        max_length=len(Decision),
        description="Decisions to send; default: all of them.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class NotificationsSpec(ApiModel):
    receivers: list[Receiver] = Field(
        min_length=1,
        max_length=8,
        description="Webhooks told about decisions, after the operator acted on them.",
        # A list-map: the API server itself refuses two receivers of one name.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _unique_names(self) -> NotificationsSpec:
        names = [r.name for r in self.receivers]
        if len(names) != len(set(names)):
            raise ValueError("receiver names must be unique")
        return self


class _Status(BaseModel):
    """As status.StatusModel (which status.py, importing this module, cannot lend)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class NoticeCheck(_Status):
    """One check of the evaluation behind a decision, as the notification carries it."""

    name: str
    value: float | None = None
    baseline: float | None = None
    threshold: str = ""
    verdict: str = ""
    reason: str = ""


class Notice(_Status):
    """A decision to notify, recorded with the decision (before its actions) and kept
    until every receiver it names has an outcome: a restart sends what is left."""

    id: str = Field(description="Stable id: the name of the decision's Event.")
    decision: Decision
    time: datetime
    reason: str = Field(description="Why: the kill switch's reason, a rollback's evidence.")
    message: str = Field(default="", description="The decision's Event message.")
    version: str | None = Field(default=None, description="The version the decision is about.")
    from_version: str | None = None
    to_version: str | None = None
    stable_version: str | None = None
    known_good: list[str] = []
    quarantined: str | None = None
    requested_by: str = ""
    evaluated_at: datetime | None = None
    checks: list[NoticeCheck] = []
    receivers: list[str] = Field(default=[], description="Receivers still to send it to.")


class Delivery(_Status):
    id: str
    receiver: str
    outcome: Literal["Delivered", "Failed"]
    at: datetime
    attempts: int = 1
    detail: str = Field(default="", description="Why it failed (never the URL).")


class NotificationsStatus(_Status):
    pending: list[Notice] = []
    #: The last DELIVERY_RECORD_LIMIT outcomes, oldest first.
    sent: list[Delivery] = []
