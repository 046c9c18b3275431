"""A query Prometheus refuses as bad PromQL (400 bad_data) is a spec problem, not an
outage: the check is Inconclusive with reason InvalidQuery, the phase is Invalid with
InvalidSpec=True naming the check, one Warning says so, and no noData policy turns it
into a failure (a typo never rolls a version back)."""

from __future__ import annotations

import pytest

from modelguard.core import conditions as cond
from modelguard.core.api import NoDataPolicy, Phase, Verdict
from modelguard.core.evaluation import overall
from modelguard.core.ports import QueryResult
from modelguard.core.reasons import CheckReason
from tests.unit.coresim import Sim, make_spec, v
from tests.unit.test_decision import GOOD, condition

BAD_PROMQL = QueryResult(
    error='bad PromQL: invalid parameter "query": 1:14: parse error', invalid_query=True
)


def test_a_refused_query_has_its_own_reason() -> None:
    assert BAD_PROMQL.problem() == (CheckReason.INVALID_QUERY, BAD_PROMQL.error)
    outage = QueryResult(error="Prometheus at http://p unreachable: connection refused")
    assert outage.problem()[0] is CheckReason.QUERY_ERROR


@pytest.mark.parametrize("no_data", list(NoDataPolicy))
def test_no_data_policy_never_reinterprets_a_refused_query(no_data: NoDataPolicy) -> None:
    sim = Sim(make_spec(1, no_data=no_data.value))
    sim.settle()
    sim.accuracy["v1"] = BAD_PROMQL
    [result] = sim.take_evaluation()
    assert (result.verdict, result.reason) == (Verdict.INCONCLUSIVE, CheckReason.INVALID_QUERY)
    assert overall([result], no_data) is Verdict.INCONCLUSIVE


def test_a_refused_query_makes_the_phase_invalid_with_one_warning_until_fixed() -> None:
    sim = Sim(make_spec(1, no_data="fail"))
    sim.settle()
    sim.accuracy["v1"] = BAD_PROMQL
    sim.analyse_n(5)
    assert sim.status.phase is Phase.INVALID
    status, reason = condition(sim, cond.INVALID_SPEC)
    assert (status, reason) == ("True", "InvalidQuery")
    invalid = cond.get_condition(sim.status.conditions, cond.INVALID_SPEC)
    assert invalid is not None and "check 'accuracy': bad PromQL" in invalid.message
    assert condition(sim, cond.READY) == ("False", "InvalidQuery")
    assert sim.count("InvalidSpec") == 1  # announced once, not every evaluation
    assert sim.status.consecutive_failures == 0  # noData=fail does not count it
    assert sim.workload.version == v(1)

    sim.set_metric(v(1), GOOD)  # the user fixed the query
    sim.analyse()
    assert condition(sim, cond.INVALID_SPEC) == ("False", "Valid")
    assert sim.status.phase.value == "Progressing"
