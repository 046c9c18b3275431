"""Property tests (hypothesis) of the rules users rely on.

Each property runs at most ~200 examples with no deadline; scenarios are driven through
tests/unit/coresim.Sim (status written before actions run, as the reconciler does).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from functools import cache
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from modelguard.core.api import (
    CheckResult,
    FallbackSpec,
    KillSwitchMode,
    KillSwitchSpec,
    KillSwitchStatus,
    ModelDeploymentStatus,
    ModelVersion,
    NoDataPolicy,
    QuarantinedVersion,
    RollbackRequest,
    Verdict,
    VersionStatus,
)
from modelguard.core.decision import Observation, plan, rollback_target
from modelguard.core.evaluation import NO_DATA_REASONS, overall
from modelguard.core.killswitch import step
from modelguard.core.promql import render
from modelguard.core.workload import ServiceState, SetVersion, Workload
from tests.unit.coresim import T0, Sim, deployment, execute, make_spec, v
from tests.unit.promql_lex import literals, shape

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
GOOD, BAD = 0.95, 0.5


def fork(sim: Sim) -> Sim:
    return dataclasses.replace(
        sim,
        accuracy=dict(sim.accuracy),
        samples=dict(sim.samples),
        events=list(sim.events),
        actions=list(sim.actions),
    )


def _promote(sim: Sim) -> None:
    current = sim.status.current_version
    assert current is not None
    sim.set_metric(current, GOOD)
    while not any(k.same(current) for k in sim.status.known_good_versions):
        sim.analyse()


@cache
def _base(no_data: str = "hold") -> Sim:
    """v1 and v2 known good, v3 desired and running, nothing evaluated for v3 yet."""
    sim = Sim(make_spec(1, no_data=no_data))
    sim.settle()
    _promote(sim)
    sim.want(2)
    sim.settle()
    _promote(sim)
    sim.want(3)
    sim.settle()
    assert sim.workload.version == v(3)
    return sim


def base(no_data: str = "hold") -> Sim:
    return fork(_base(no_data))


def rollbacks_from(sim: Sim) -> list[str]:
    """Names of versions rolled back from, one per RolledBack event."""
    return [e.message.split(" ", 3)[2] for e in sim.events if e.reason == "RolledBack"]


# --------------------------------------------------------------------------- (1)

inconclusive_reasons = st.sampled_from(sorted(NO_DATA_REASONS | {"TooFewSamples"}))
check_results = st.lists(
    st.one_of(
        st.builds(
            lambda r, i: CheckResult(
                name=f"c{i}", query="q", verdict=Verdict.INCONCLUSIVE, reason=r
            ),
            inconclusive_reasons,
            st.integers(0, 99),
        ),
        st.builds(
            lambda r, i: CheckResult(name=f"p{i}", query="q", verdict=Verdict.PASSED, reason=r),
            st.sampled_from(["WithinThreshold", "NoBaseline"]),
            st.integers(0, 99),
        ),
    ),
    min_size=1,
    max_size=5,
)


@PROPERTY
@given(
    results=check_results,
    policy=st.sampled_from(list(NoDataPolicy)),
    prior=st.integers(0, 2),
    tooth=st.booleans(),
)
def test_inconclusive_never_increments_failures(
    results: list[CheckResult], policy: NoDataPolicy, prior: int, tooth: bool
) -> None:
    """(1) Whatever the mix of checks and policy, an Inconclusive overall verdict leaves
    consecutiveFailures alone; a small sample is Inconclusive under every policy."""
    if tooth:  # a check that lacks samples: must hold whatever noData says
        results = [
            *results,
            CheckResult(name="s", query="q", verdict=Verdict.INCONCLUSIVE, reason="TooFewSamples"),
        ]
    sim = base(policy.value)
    status = sim.status.model_copy(update={"consecutive_failures": prior})
    # (A Failed verdict at the threshold may roll back; below it, never.)
    verdict = overall(results, policy)
    if tooth:
        assert verdict is Verdict.INCONCLUSIVE
    p = plan(
        sim.spec,
        status,
        sim.generation,
        Observation(sim.workload, evaluation=results),
        sim.now + timedelta(hours=1),
    )
    if verdict is not Verdict.FAILED:
        assert not any(isinstance(a, SetVersion) for a in p.actions)
    if verdict is Verdict.INCONCLUSIVE:
        assert p.status.consecutive_failures == prior
        assert p.status.passing_since is None
    elif verdict is Verdict.PASSED:
        assert p.status.consecutive_failures == 0
    else:  # noData=fail read missing data as failure: that one does count
        assert policy is NoDataPolicy.FAIL
        inconclusive = [r for r in results if r.verdict is Verdict.INCONCLUSIVE]
        assert inconclusive and all(r.reason in NO_DATA_REASONS for r in inconclusive)
        if prior + 1 < 3:  # failureThreshold
            assert p.status.consecutive_failures == prior + 1
        else:  # rolled back: the count starts again for the version now running
            assert p.status.pending_action is not None
            assert p.status.pending_action.kind == "rollback"


# --------------------------------------------------------------------------- (2)

verdicts = st.lists(st.sampled_from(["pass", "fail", "none"]), max_size=12)


def _evaluate(sim: Sim, outcome: str) -> None:
    current = sim.status.current_version
    assert current is not None
    sim.set_metric(current, {"pass": GOOD, "fail": BAD, "none": None}[outcome])
    sim.analyse()


@PROPERTY
@given(before=verdicts, after=st.integers(1, 12), no_data=st.sampled_from(["hold", "fail"]))
def test_more_failures_never_cancel_or_repeat_a_rollback(
    before: list[str], after: int, no_data: str
) -> None:
    """(2) Once v3 has been rolled back, further failed evaluations never roll it back a
    second time, never re-apply it and never lift its quarantine."""
    sim = base(no_data)
    for outcome in [*before, "fail", "fail", "fail"]:
        _evaluate(sim, outcome)
        if rollbacks_from(sim):
            break
    assert rollbacks_from(sim) == ["v3"]
    set_versions_at_rollback = len(sim.set_versions())
    for _ in range(after):
        _evaluate(sim, "fail")
        assert any(q.same(v(3)) for q in sim.status.quarantined_versions)
        assert rollbacks_from(sim).count("v3") == 1
        assert v(3) not in sim.set_versions()[set_versions_at_rollback:]
        assert sim.workload.version != v(3)
    # Each version is rolled back from at most once, and never to a quarantined one.
    assert len(rollbacks_from(sim)) == len(set(rollbacks_from(sim)))


# --------------------------------------------------------------------------- (3), (4)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("eval"), st.sampled_from(["pass", "fail", "none"])),
        st.tuples(st.just("want"), st.integers(1, 5)),
        st.tuples(st.just("kill"), st.booleans()),
        st.tuples(st.just("scale"), st.integers(0, 9)),
        st.tuples(st.just("drift"), st.integers(1, 6)),
        st.tuples(st.just("wait"), st.integers(1, 900)),
        st.tuples(st.just("request"), st.sampled_from([None, "v1", "v2", "v4", "v9"])),
        st.tuples(st.just("crash"), st.just(None)),
    ),
    max_size=25,
)


def _apply_op(sim: Sim, op: tuple[str, Any], n: int) -> None:
    kind, arg = op
    if kind == "eval":
        current = sim.status.current_version
        if current is not None and sim.spec.analysis is not None:
            sim.set_metric(current, {"pass": GOOD, "fail": BAD, "none": None}[arg])
            sim.tick(sim.take_evaluation())  # taken now, due or not: plan() must cope
    elif kind == "want":
        sim.want(arg)
        sim.tick()
    elif kind == "kill":
        if arg:
            sim.kill(f"INC-{n}")
        else:
            sim.release()
        sim.tick()
    elif kind == "scale":
        sim.workload = dataclasses.replace(sim.workload, replicas=arg, ready_replicas=arg)
        sim.tick()
    elif kind == "drift":
        sim.workload = dataclasses.replace(sim.workload, version=v(arg))
        sim.tick()
    elif kind == "wait":
        sim.advance(timedelta(seconds=arg))
        sim.tick()
    elif kind == "request":
        sim.tick(request=RollbackRequest(id=f"r{n}", to=arg))
    elif kind == "crash":
        sim.tick(crash=True)  # status written, actions lost


def _check_rollback_targets(before: ModelDeploymentStatus, after: ModelDeploymentStatus) -> None:
    """(4) in scenario form: what a rollback patches to is known good, not quarantined,
    and not what ran before."""
    pending = after.pending_action
    if pending is None or pending.kind != "rollback" or pending == before.pending_action:
        return
    assert not any(q.same(pending.target) for q in after.quarantined_versions)
    assert before.current_version is not None
    assert not pending.target.same(before.current_version)


@PROPERTY
@given(script=ops)
def test_applying_a_decision_twice_changes_nothing(script: list[tuple[str, Any]]) -> None:
    """(3) After any history, once the reconciler has run a plan's actions and reached
    the fixpoint, planning again (now, or later with no new evaluation) returns no
    actions, no events and the very same status, which survives the API round trip."""
    sim = base()
    for n, op in enumerate(script):
        before = sim.status
        _apply_op(sim, op, n)
        _check_rollback_targets(before, sim.status)
        before = sim.status
        sim.settle()
        _check_rollback_targets(before, sim.status)
        fixpoint = sim.status
        assert ModelDeploymentStatus.model_validate(fixpoint.to_wire()) == fixpoint
        for later in (timedelta(0), timedelta(seconds=1), timedelta(minutes=3)):
            again = plan(
                sim.spec, fixpoint, sim.generation, Observation(sim.workload), sim.now + later
            )
            assert again.actions == ()
            assert again.events == ()
            assert again.status == fixpoint
    for reason in sorted(set(sim.reasons())):
        event(reason)  # coverage of the scenarios: --hypothesis-show-statistics


versions = st.integers(1, 6)


@PROPERTY
@given(
    known=st.lists(versions, max_size=6),
    quarantined=st.lists(versions, max_size=6),
    current=st.one_of(st.none(), versions),
)
def test_rollback_target_is_never_quarantined_nor_current(
    known: list[int], quarantined: list[int], current: int | None
) -> None:
    """(4) For any status: the target is known good, not quarantined, not current."""
    status = ModelDeploymentStatus(
        current_version=VersionStatus.of(v(current), T0) if current else None,
        known_good_versions=[VersionStatus.of(v(n), T0) for n in known],
        quarantined_versions=[QuarantinedVersion.quarantine(v(n), T0, "x") for n in quarantined],
    )
    target = rollback_target(status)
    candidates = [n for n in known if n not in quarantined and n != current]
    if not candidates:
        assert target is None
        return
    assert target is not None
    assert target.same(v(candidates[-1]))  # the newest such one
    assert not any(q.same(target) for q in status.quarantined_versions)
    assert not target.same(status.current_version)


# --------------------------------------------------------------------------- (5)

kill_ops = st.lists(
    st.one_of(
        st.tuples(st.just("engage"), st.just(0)),
        st.tuples(st.just("release"), st.just(0)),
        st.tuples(st.just("someone-scales"), st.integers(0, 12)),
        st.tuples(st.just("someone-edits-selector"), st.just(0)),
        st.tuples(st.just("fallback-ready"), st.integers(0, 2)),
        st.tuples(st.just("crash"), st.just(0)),
        st.tuples(st.just("tick"), st.just(0)),
    ),
    max_size=30,
)
MODEL_SELECTOR = {"app": "fraud-scorer"}
FALLBACK_SELECTOR = {"app": "fraud-rules"}


@PROPERTY
@given(
    script=kill_ops,
    initial=st.integers(0, 12),
    fallback=st.booleans(),
    ready=st.integers(0, 2),
)
def test_release_restores_exactly_what_the_kill_switch_changed(
    script: list[tuple[str, int]], initial: int, fallback: bool, ready: int
) -> None:
    """(5) Any interleaving of engage, release, someone scaling or editing the Service,
    the fallback coming and going, and crashes between writing the status and running
    its actions. When a release is observed:
    - scaleToZero: the Deployment has the replica count from before the engagement;
    - fallback: the Service has its selector from before the engagement, and if the
      model had to be stopped too (no Ready fallback), the count it had then.
    Saved state is never overwritten while engaged."""
    mode = KillSwitchMode.FALLBACK if fallback else KillSwitchMode.SCALE_TO_ZERO
    fb = FallbackSpec(service_name="fraud-scorer", selector=FALLBACK_SELECTOR)
    on = KillSwitchSpec(enabled=True, mode=mode, fallback=fb, reason="incident")
    off = on.model_copy(update={"enabled": False, "reason": ""})
    spec = off
    w = Workload(
        exists=True,
        version=ModelVersion(model_tag="v1"),
        replicas=initial,
        ready_replicas=initial,
        service=ServiceState("fraud-scorer", True, dict(MODEL_SELECTOR)),
        fallback_ready_pods=ready,
    )
    status = KillSwitchStatus()
    selector_before: dict[str, str] | None = None  # when the engagement began
    replicas_before: int | None = None  # when the operator first stopped the model
    releases = 0

    def run(crash: bool = False) -> None:
        nonlocal status, w, selector_before, replicas_before, releases
        was = status
        result = step(spec, was, w, "sre", T0)
        now = result.status
        if now.engaged and not was.engaged:
            assert w.service is not None
            selector_before = dict(w.service.selector or {})
        if now.engaged and now.saved is not None and now.saved.replicas is not None:
            if was.saved is None or was.saved.replicas is None:
                replicas_before = w.replicas  # the operator is stopping the model now
            else:  # never overwritten
                assert now.saved.replicas == was.saved.replicas
        if was.engaged and now.engaged:
            assert was.saved is not None and now.saved is not None
            assert now.saved.selector == was.saved.selector
        status = now
        if not crash:
            w = execute(w, result.actions)
        if result.released:
            releases += 1
            assert not now.engaged
            if mode is KillSwitchMode.SCALE_TO_ZERO:
                assert replicas_before is not None
            if replicas_before is not None:
                assert w.replicas == replicas_before
            if mode is KillSwitchMode.FALLBACK and was.saved and was.saved.selector is not None:
                assert w.service is not None and w.service.selector == selector_before
            selector_before = replicas_before = None

    for kind, arg in script:
        if kind == "engage":
            spec = on
        elif kind == "release":
            spec = off
        elif kind == "someone-scales":
            w = dataclasses.replace(w, replicas=arg, ready_replicas=arg)
        elif kind == "someone-edits-selector":
            w = dataclasses.replace(
                w, service=ServiceState("fraud-scorer", True, {"app": "edited", "n": str(arg)})
            )
        elif kind == "fallback-ready":
            w = dataclasses.replace(w, fallback_ready_pods=arg)
        run(crash=kind == "crash")
    # Finally release and let it settle: it completes, and restores.
    was_engaged = status.engaged
    spec = off
    for _ in range(3):
        run()
    assert not status.engaged
    assert releases >= int(was_engaged)


@PROPERTY
@given(script=kill_ops, initial=st.integers(0, 12))
def test_scale_to_zero_release_always_returns_the_count_before_engage(
    script: list[tuple[str, int]], initial: int
) -> None:
    """(5), driven through plan(): in scaleToZero mode the count is always restored."""
    sim = Sim(make_spec(1, analysis=False), workload=deployment(v(1), replicas=initial))
    sim.settle()
    before: int | None = None
    for n, (kind, arg) in enumerate(script):
        was = sim.status.kill_switch.engaged
        if kind == "engage":
            sim.kill(f"INC-{n}")
        elif kind == "release":
            sim.release()
        elif kind == "someone-scales" and (was or sim.spec.kill_switch.enabled):
            sim.workload = dataclasses.replace(sim.workload, replicas=arg, ready_replicas=arg)
        replicas_seen = sim.workload.replicas
        p = sim.tick(crash=kind == "crash")
        if p.status.kill_switch.engaged and not was:
            before = replicas_seen
        if was and not p.status.kill_switch.engaged:
            assert sim.workload.replicas == before
            assert "KillSwitchReleased" in [e.reason for e in p.events]
            before = None


# --------------------------------------------------------------------------- (6)


@PROPERTY
@given(value=st.text(max_size=40))
def test_any_version_stays_one_string_literal(value: str) -> None:
    """(6) Whatever the version text, the rendered query has the template's structure
    and the matcher's literal unescapes to exactly that text."""
    template = 'm{version="{{version}}"}'
    rendered = render(template, {"version": value})
    assert shape(rendered) == shape(template)
    assert literals(rendered) == [value]


@PROPERTY
@given(
    values=st.fixed_dictionaries(
        {
            "version": st.text(max_size=20),
            "stableVersion": st.text(max_size=20),
            "namespace": st.text(max_size=10),
            "name": st.text(max_size=10),
        }
    )
)
def test_every_placeholder_stays_inside_its_literal(values: dict[str, str]) -> None:
    template = (
        'sum(a{v="{{version}}",ns="{{namespace}}"}) / sum(b{v="{{stableVersion}}",n="{{name}}"})'
    )
    rendered = render(template, values)
    assert shape(rendered) == shape(template)
    assert literals(rendered) == [
        values["version"],
        values["namespace"],
        values["stableVersion"],
        values["name"],
    ]
