"""ModelCheckTemplate and ClusterModelCheckTemplate: one check's queries, written once.

A platform team writes "F1 from the confusion-matrix counters" once; every
ModelDeployment's check then says `templateRef` + `args` + (optionally) its own
thresholds, and a fix to the template reaches every model. The template's queries use
the operator's placeholders ({{version}}, {{stableVersion}}, {{namespace}}, {{name}},
{{sinceStart}}) and its own parameters ({{window}}), which the resolver
(core.templates) fills from the check's args or the parameter's default, escaped like
the operator's own values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelguard.core.api.base import GROUP, VERSION, ApiModel, cel
from modelguard.core.api.checks import ProportionCheck
from modelguard.core.promql import PLACEHOLDERS, placeholders_in

TEMPLATE_KIND = "ModelCheckTemplate"
CLUSTER_TEMPLATE_KIND = "ClusterModelCheckTemplate"
_RESERVED = ", ".join(f"'{p}'" for p in PLACEHOLDERS)


class TemplateParam(ApiModel):
    """A named parameter of a template: {{name}} in its queries."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"!(self.name in [{_RESERVED}])",
                    "a parameter cannot be named like an operator placeholder",
                    ".name",
                )
            ]
        }
    )

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        max_length=63,
        description="Used as {{name}} in the template's queries.",
    )
    default: str | None = Field(
        default=None,
        max_length=1024,
        description="Value when a check gives no arg. Absent: the arg is required.",
    )
    description: str = Field(default="", max_length=1024)

    @model_validator(mode="after")
    def _not_reserved(self) -> TemplateParam:
        if self.name in PLACEHOLDERS:
            raise ValueError("a parameter cannot be named like an operator placeholder")
        return self


class CheckDefaults(ApiModel):
    """Thresholds a check gets unless it sets its own."""

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)
    max_increase: float | None = Field(default=None, ge=0)
    min_samples: int | None = Field(default=None, ge=0)


_ONE_FORM = "a template holds exactly one of query and proportion"
_PROPORTION_ALONE = (
    "a proportion template takes no baselineQuery, samplesQuery or defaults "
    "(its margin and minSamples are in proportion)"
)
_DEFAULTS_SET = (
    "has(self.defaults) && (has(self.defaults.min) || has(self.defaults.max) || "
    "has(self.defaults.maxDrop) || has(self.defaults.maxIncrease) || "
    "has(self.defaults.minSamples))"
)


class ModelCheckTemplateSpec(ApiModel):
    """One check's queries: a query (with baseline and samples queries and default
    thresholds), or a proportion check's two queries and test settings."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.query) != has(self.proportion)", _ONE_FORM),
                cel(
                    "!has(self.proportion) || !(has(self.baselineQuery) || "
                    f"has(self.samplesQuery) || ({_DEFAULTS_SET}))",
                    _PROPORTION_ALONE,
                ),
            ]
        }
    )

    metric: str = Field(
        min_length=1, max_length=63, description="What the check measures (F1, LatencyP99 ...)."
    )
    description: str = Field(default="", max_length=2048)
    params: list[TemplateParam] = Field(
        default=[],
        max_length=16,
        description="Named parameters of the queries.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL returning one value for {{version}}.",
    )
    proportion: ProportionCheck | None = Field(
        default=None,
        description="Instead of query: a proportion check (successQuery, totalQuery, "
        "margin ...); a check naming the template may set its own margin and minSamples.",
    )
    baseline_query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL for the same quantity on {{stableVersion}}.",
    )
    samples_query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL counting the samples behind the value.",
    )
    defaults: CheckDefaults = Field(
        default=CheckDefaults(), description="Thresholds a check gets unless it sets its own."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelCheckTemplateSpec:
        if (self.query is None) == (self.proportion is None):
            raise ValueError(_ONE_FORM)
        defaults_set = self.defaults.model_dump(exclude_none=True)
        if self.proportion is not None and (
            self.baseline_query is not None or self.samples_query is not None or defaults_set
        ):
            raise ValueError(_PROPORTION_ALONE)
        names = [p.name for p in self.params]
        if len(names) != len(set(names)):
            raise ValueError("parameter names must be unique")
        known = set(PLACEHOLDERS) | set(names)
        for field, text in self.queries().items():
            unknown = placeholders_in(text) - known
            if unknown:
                raise ValueError(
                    f"{field} uses undeclared placeholder(s) {', '.join(sorted(unknown))}"
                )
        return self

    def queries(self) -> dict[str, str]:
        """The template's queries by field name (camelCase, as users write them)."""
        arms = self.proportion
        fields = {
            "query": self.query,
            "baselineQuery": self.baseline_query,
            "samplesQuery": self.samples_query,
            "proportion.successQuery": arms.success_query if arms else None,
            "proportion.totalQuery": arms.total_query if arms else None,
        }
        return {k: v for k, v in fields.items() if v is not None}


class _TemplateResource(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    api_version: str = Field(default=f"{GROUP}/{VERSION}", alias="apiVersion")
    metadata: dict[str, Any] = {}
    spec: ModelCheckTemplateSpec


class ModelCheckTemplate(_TemplateResource):
    """A namespaced template: usable by ModelDeployments of its own namespace."""

    kind: Literal["ModelCheckTemplate"] = "ModelCheckTemplate"


class ClusterModelCheckTemplate(_TemplateResource):
    """A cluster-scoped template: usable by every ModelDeployment."""

    kind: Literal["ClusterModelCheckTemplate"] = "ClusterModelCheckTemplate"
