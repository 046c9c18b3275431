"""One check of an analysis: a PromQL query against thresholds, a proportion (candidate
vs stable rate, judged by a sequential test), or a reference to a check template."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from modelguard.core.api.base import ApiModel, DnsLabel, DnsSubdomain, cel
from modelguard.core.statistics import Direction


class ProportionTest(StrEnum):
    SEQUENTIAL = "sequential"  # the always-valid confidence sequence, judged every interval
    FIXED = "fixed"  # one margin test once both arms together reach expectedSamples


# Both arms render the same query text, so it must name {{version}}: without it the two
# arms would count the same series and the test would compare a version with itself.
# Spaces only (not every \s the template syntax takes): CEL must say the same thing.
_VERSION_PLACEHOLDER = "[{][{][ ]*version[ ]*[}][}]"
_NEEDS_VERSION = "must use {{version}}: it is rendered once per arm"


def _uses_version(query: str) -> str:
    if not re.search(_VERSION_PLACEHOLDER, query):
        raise ValueError(_NEEDS_VERSION)
    return query


ArmQuery = Annotated[
    str,
    AfterValidator(_uses_version),
    Field(
        min_length=1,
        max_length=4096,
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(f"self.matches('{_VERSION_PLACEHOLDER}')", _NEEDS_VERSION)
            ]
        },
    ),
]


class ProportionCheck(ApiModel):
    """A rate (successes / total) of the version under test compared with the stable
    version's, by a statistical test on the difference (candidate - stable)."""

    success_query: ArmQuery = Field(
        description="PromQL counting successes (e.g. correct predictions) of {{version}}, "
        'e.g. sum(increase(model_correct_total{version="{{version}}"}[{{sinceStart}}])). '
        "Rendered once for the version under test and once with the stable version in "
        "{{version}}."
    )
    total_query: ArmQuery = Field(
        description="PromQL counting all outcomes (e.g. labelled predictions) of "
        "{{version}}, over the same window as successQuery."
    )
    test: ProportionTest = Field(
        default=ProportionTest.SEQUENTIAL,
        description="sequential: a confidence sequence valid at every look (default); "
        "fixed: one margin test once the arms hold expectedSamples outcomes together.",
    )
    margin: float = Field(
        gt=0,
        le=1,
        description="Tolerated absolute difference in the bad direction (e.g. 0.02 = two "
        "points of accuracy). Worse than this with confidence fails the check.",
    )
    alpha: float = Field(
        default=0.05, gt=0, lt=0.5, description="Error rate of the test (false rollbacks)."
    )
    expected_samples: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000_000,
        description="Outcomes of both arms together where the sequential test is tightest; "
        "for test fixed, the sample size of its one look.",
    )
    direction: Direction = Field(
        default=Direction.DECREASE,
        description="Which way is bad: decrease (accuracy) or increase (error rate).",
    )
    min_samples: int | None = Field(
        default=None, ge=0, description="Below this many outcomes in either arm: Inconclusive."
    )


class TemplateKind(StrEnum):
    CLUSTER = "ClusterModelCheckTemplate"
    NAMESPACED = "ModelCheckTemplate"


class TemplateRef(ApiModel):
    """A check template: a ClusterModelCheckTemplate, or a ModelCheckTemplate of the
    ModelDeployment's namespace."""

    name: DnsSubdomain
    kind: TemplateKind = Field(
        default=TemplateKind.CLUSTER,
        description="ClusterModelCheckTemplate (default) or ModelCheckTemplate.",
    )


_EXACTLY_ONE = "a check needs exactly one of query, proportion and templateRef"
_TEMPLATE_QUERIES = (
    "a templateRef check takes its queries from the template: no baselineQuery or samplesQuery"
)
_ARGS_NEED_TEMPLATE = "args need a templateRef"
_MARGIN_NEEDS_TEMPLATE = "margin is for a templateRef check (a proportion check sets its own)"

_NOT_WITH_PROPORTION = (
    *("min", "max", "max_drop", "max_increase"),
    *("baseline_query", "samples_query", "min_samples"),
)


class Check(ApiModel):
    """One quality check: a PromQL query with bounds, or a proportion compared with the
    stable version's. Templates: {{version}}, {{stableVersion}}, {{namespace}}, {{name}},
    {{sinceStart}} (seconds since the version went live, e.g. 930s); values are escaped
    for label matchers."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "(has(self.query) ? 1 : 0) + (has(self.proportion) ? 1 : 0) + "
                    "(has(self.templateRef) ? 1 : 0) == 1",
                    _EXACTLY_ONE,
                ),
                cel(
                    "!has(self.templateRef) || !(has(self.baselineQuery) || "
                    "has(self.samplesQuery))",
                    _TEMPLATE_QUERIES,
                ),
                cel("!has(self.args) || has(self.templateRef)", _ARGS_NEED_TEMPLATE, ".args"),
                cel(
                    "!has(self.margin) || has(self.templateRef)",
                    _MARGIN_NEEDS_TEMPLATE,
                    ".margin",
                ),
                cel(
                    "!has(self.proportion) || !(has(self.min) || has(self.max) || "
                    "has(self.maxDrop) || has(self.maxIncrease) || has(self.baselineQuery) "
                    "|| has(self.samplesQuery) || has(self.minSamples))",
                    "a proportion check takes no min, max, maxDrop, maxIncrease, "
                    "baselineQuery, samplesQuery or minSamples (see proportion.minSamples)",
                ),
                cel(
                    "has(self.proportion) || has(self.templateRef) || has(self.min) || "
                    "has(self.max) || "
                    "has(self.maxDrop) || has(self.maxIncrease)",
                    "a check needs at least one of min, max, maxDrop, maxIncrease",
                ),
                cel(
                    "!has(self.min) || !has(self.max) || self.min <= self.max",
                    "min must be less than or equal to max",
                    ".min",
                ),
                cel(
                    "has(self.templateRef) || "
                    "(has(self.maxDrop) || has(self.maxIncrease)) == has(self.baselineQuery)",
                    "maxDrop/maxIncrease and baselineQuery go together",
                    ".baselineQuery",
                ),
                cel(
                    "has(self.templateRef) || has(self.minSamples) == has(self.samplesQuery)",
                    "minSamples and samplesQuery go together",
                    ".samplesQuery",
                ),
            ]
        }
    )

    name: DnsLabel = Field(description="Unique name of the check.")
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL returning one value for {{version}}.",
    )
    proportion: ProportionCheck | None = Field(
        default=None,
        description="Instead of query: successes / total of {{version}} against the stable "
        "version's, judged by a statistical test.",
    )
    template_ref: TemplateRef | None = Field(
        default=None,
        description="Instead of query: a check template; thresholds set here override the "
        "template's defaults.",
    )
    args: dict[str, str] | None = Field(
        default=None,
        max_length=16,
        description="Values of the template's parameters (escaped like {{version}}).",
    )
    margin: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="With a templateRef to a proportion template: its margin instead of "
        "the template's.",
    )
    min: float | None = Field(default=None, description="Fail when the value is below this.")
    max: float | None = Field(default=None, description="Fail when the value is above this.")
    baseline_query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL for the same quantity on {{stableVersion}}.",
    )
    max_drop: float | None = Field(
        default=None, ge=0, description="Fail when baseline - value exceeds this."
    )
    max_increase: float | None = Field(
        default=None, ge=0, description="Fail when value - baseline exceeds this."
    )
    samples_query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL counting the samples behind the value.",
    )
    min_samples: int | None = Field(
        default=None, ge=0, description="Below this many samples the check is Inconclusive."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Check:
        given = [f for f in (self.query, self.proportion, self.template_ref) if f is not None]
        if len(given) != 1:
            raise ValueError(_EXACTLY_ONE)
        if self.template_ref is not None and (
            self.baseline_query is not None or self.samples_query is not None
        ):
            raise ValueError(_TEMPLATE_QUERIES)
        if self.args is not None and self.template_ref is None:
            raise ValueError(_ARGS_NEED_TEMPLATE)
        if self.margin is not None and self.template_ref is None:
            raise ValueError(_MARGIN_NEEDS_TEMPLATE)
        if self.template_ref is not None:
            return self  # the thresholds are checked once resolved (core.templates)
        if self.proportion is not None:
            if any(getattr(self, f) is not None for f in _NOT_WITH_PROPORTION):
                raise ValueError(
                    "a proportion check takes no min, max, maxDrop, maxIncrease, "
                    "baselineQuery, samplesQuery or minSamples (see proportion.minSamples)"
                )
            return self
        relative = self.max_drop is not None or self.max_increase is not None
        if self.min is None and self.max is None and not relative:
            raise ValueError("a check needs at least one of min, max, maxDrop, maxIncrease")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must be less than or equal to max")
        if relative != (self.baseline_query is not None):
            raise ValueError("maxDrop/maxIncrease and baselineQuery go together")
        if (self.min_samples is not None) != (self.samples_query is not None):
            raise ValueError("minSamples and samplesQuery go together")
        return self
