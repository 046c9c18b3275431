"""Reconcile one ModelDeployment: observe, decide (pure core), record, act, report.

The order is the crash-safety argument: the status returned by the core is written
*before* its actions run. Every action is level-based and derivable from that status
(pending version change, saved replicas), so a crash at any point leads the next
reconcile to repeat the same action, never to decide a second one.

The kill switch never waits for Prometheus. No evaluation is started while the switch is
in play (enabled, engaged, or being released: analysis_due says no), and a reconcile in
flight can be `interrupt`ed when a kill-switch kick arrives for its object: it stops
waiting for its evaluation and returns at the next point where nothing is half done
(after the evaluation, between passes, before a commit), so that the scheduler's
kill-switch lane runs at once. That is safe because an evaluation only reads (a Secret,
Prometheus) and a commit is never abandoned midway; the interrupted reconcile writes
nothing more, and the kill-switch reconcile decides from the stored status, as after a
crash. (Abandoned queries still run out their timeout in the Prometheus pool.)
Whatever the evaluation's fate, the object is read again after it: the spec may have
changed during a slow evaluation (a kill, a new version), and the plan must be made for
the object as it is now. A result is judged only if it was rendered for that object:
the same generation and the same current version; otherwise it is discarded, never
counted for a version it did not measure.

Fencing (two replicas, one leader). Every status write and finalizer change is conditional
on the resourceVersion the decision was made from; a ConflictError means someone wrote the
object since (another replica that leads now, or a user), so the decision is dropped,
never acted on, and the reconcile starts again from a fresh read. And right before it
writes or acts, the reconcile asks `gate` whether this replica still leads.

Reads may come from the watch cache (runtime.cache), but a decision that acts is made on
fresh reads only: a plan from cached reads that has actions is planned again, with the
same evaluation, after the object (a new version: decide again, as after a 409) and the
workload are read from the API server. Status changes of only volatile fields are held
back (runtime.statuswrites); a status that goes with actions never is.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from modelguard.core import dryrun
from modelguard.core.api import (
    CheckResult,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    OutgoingEvent,
)
from modelguard.core.clock import utcnow
from modelguard.core.decision import (
    DEFAULT_TAG_ENV,
    MAX_PASSES,
    PENDING_RECHECK,
    KillSwitchOnly,
    Observation,
    Plan,
    analysis_due,
    invalid_spec,
    next_due,
    plan,
    slot_phase,
    tag_env,
)
from modelguard.core.decision.teardown import FINALIZER, holds_state, teardown
from modelguard.core.evaluation import overall
from modelguard.core.guarded import kill_switch_state
from modelguard.core.metadata import requested_by, rollback_request
from modelguard.core.ports import ConflictError, Workloads
from modelguard.core.specparse import kill_switch_part, parse_spec, spec_error
from modelguard.core.workload import (
    Workload,
)
from modelguard.runtime import acting, telemetry
from modelguard.runtime.evaluator import Evaluator, MetricsFactory
from modelguard.runtime.notifier import Notifier
from modelguard.runtime.statuswrites import StatusWrites
from modelguard.runtime.template_index import TemplateIndex, named_by
from modelguard.runtime.templates import Origins, resolve_spec, tag

log = logging.getLogger(__name__)

# Dry run: a held action (a pending version, a kill switch to enforce) never gets
# confirmed, so its short recheck would poll the same answer forever; watches still wake
# the reconcile at once on any change of the objects.
DRY_RUN_RECHECK = timedelta(seconds=60)
# Level-based safety net: even with no event and no analysis, look again this often.
RESYNC = timedelta(minutes=5)
# Fresh reads after a conflicting write before the reconcile fails (and backs off).
CONFLICT_ATTEMPTS = 3
NOT_LEADING_RECHECK = timedelta(seconds=1)


class _NotLeadingError(Exception):
    """The gate closed: this replica no longer leads, so it writes nothing more."""


class _UnverifiedError(Exception):
    """A decision that acts was made on cached reads: decide again on fresh ones."""


def _always() -> bool:
    return True


class Reconciler:
    """Depends on the ports only; the runtime's startup passes the adapters in."""

    def __init__(
        self,
        kube: Workloads,
        metrics_factory: MetricsFactory,
        clock: Callable[[], datetime] = utcnow,
        *,
        dry_run: bool = False,
        notifier: Notifier | None = None,
        gate: Callable[[], bool] = _always,
        templates: TemplateIndex | None = None,
        writes: StatusWrites | None = None,
        spread: bool = False,
    ) -> None:
        """writes: which status changes are written (default: all); spread: evaluations
        on each object's own slot within its interval (core.decision.timing.slot_phase)."""
        self._kube = kube
        # Watched check templates (runtime.handlers feeds it); without: read per reconcile.
        self._templates = templates
        self._notifier = notifier  # webhooks told about decisions once acted on
        self._gate = gate  # whether this replica may act now (it leads)
        self._dry_run = dry_run  # decide and record everything, write no workload
        self._clock = clock
        self._writes = writes or StatusWrites()
        self._spread = spread
        self._evaluator = Evaluator(kube, metrics_factory, clock)
        # One per reconcile in flight; set by interrupt(), seen by its evaluation.
        self._interrupts: dict[tuple[str, str], asyncio.Event] = {}

    def interrupt(self, namespace: str, name: str) -> None:
        """Make the reconcile in flight for this object stop at its next safe point (see
        the module docstring), its evaluation abandoned: a kill must not wait for it."""
        event = self._interrupts.get((namespace, name))
        if event is not None:
            event.set()

    async def reconcile(self, namespace: str, name: str) -> datetime | None:
        """Reconcile once; return when to look again (None: the object is gone)."""
        key = (namespace, name)
        self._interrupts[key] = interrupted = asyncio.Event()
        try:
            with telemetry.RECONCILE_SECONDS.time():
                fresh, attempt = False, 1
                while True:
                    try:
                        return await self._reconcile(namespace, name, interrupted, fresh)
                    except _UnverifiedError:
                        fresh = True  # not an attempt: nothing was written
                        continue
                    except ConflictError:
                        if attempt == CONFLICT_ATTEMPTS:
                            raise
                        attempt, fresh = attempt + 1, True
                        log.info("%s/%s changed since read: deciding again", namespace, name)
                    except _NotLeadingError:
                        # Not "now": until the election pauses the scheduler (within
                        # moments) that would spin; resume() makes everything due anyway.
                        return self._clock() + NOT_LEADING_RECHECK
        finally:
            if self._interrupts.get(key) is interrupted:
                del self._interrupts[key]

    async def _reconcile(
        self, namespace: str, name: str, interrupted: asyncio.Event, fresh: bool
    ) -> datetime | None:
        body = await self._kube.get_model_deployment(namespace, name, fresh=fresh)
        if body is not None and not fresh and _kill_switch_pending(body):
            # A kill switch acts for sure: read fresh now rather than plan from the cache
            # and confirm after (one round trip more before the scale).
            fresh = True
            body = await self._kube.get_model_deployment(namespace, name, fresh=True)
        if body is None:
            self._writes.forget(namespace, name)
            telemetry.forget(namespace, name)
            return None
        now = self._clock()
        generation = body.get("metadata", {}).get("generation")
        status = self._writes.base(body)
        if body["metadata"].get("deletionTimestamp"):
            if await self._teardown(body, status, fresh):
                return self._clock() + PENDING_RECHECK  # a restore not yet observed
            telemetry.forget(namespace, name)
            return None  # gone, or held by someone else's finalizer: nothing of ours left
        try:
            spec, origins = await self._parse(body)
        except (ValidationError, ValueError) as exc:
            # Not retried on a timer: nothing changes until the user edits the spec,
            # and that edit is an event that brings us back here.
            status = await self._invalid(body, status, spec_error(exc), fresh)
            telemetry.observe(namespace, name, status)
            return now + RESYNC

        evaluation: list[CheckResult] | None = None
        phase = slot_phase(body["metadata"].get("uid") or name) if self._spread else None
        if spec.analysis is not None and analysis_due(spec, status, now, phase):
            evaluation = await self._evaluator.evaluate_unless(
                interrupted, body, spec.analysis, status, namespace, name
            )
            evaluation = tag(evaluation, origins)
            if evaluation is not None:
                telemetry.EVALUATIONS.labels(overall(evaluation, spec.analysis.no_data).value).inc()
            if interrupted.is_set():
                return self._clock()  # the kill-switch lane takes over at once
            # The object as it is now, not as it was when the evaluation started.
            rendered_for = (generation, status.current_version, _canary_step(status))
            body = await self._kube.get_model_deployment(namespace, name, fresh=fresh)
            if body is None:
                return None
            generation = body.get("metadata", {}).get("generation")
            status = self._writes.base(body)
            try:
                spec, origins = await self._parse(body)
            except (ValidationError, ValueError) as exc:
                await self._invalid(body, status, spec_error(exc), fresh)
                return self._clock() + RESYNC
            if (generation, status.current_version, _canary_step(status)) != rendered_for:
                if evaluation is not None:
                    log.info(
                        "Evaluation of %s/%s discarded: the object changed while it ran",
                        namespace,
                        name,
                    )
                evaluation = None

        for _ in range(MAX_PASSES):
            # Between passes and before a commit nothing is half done: an interrupted
            # reconcile ends here, and the kill-switch lane decides from what is stored.
            if interrupted.is_set():
                return self._clock()
            decided, fresh = await self._decide(body, spec, status, evaluation, fresh)
            evaluation = None  # one evaluation is judged once
            if interrupted.is_set():
                return self._clock()
            status = await self._commit(body, status, decided, spec, verified=fresh)
            if not decided.actions or self._dry_run:
                break  # in dry run, looking again would observe the same workload
        telemetry.observe(namespace, name, status)
        due = min(next_due(spec, status, self._clock(), phase), self._clock() + RESYNC)
        if self._dry_run and decided.actions:
            due = max(due, self._clock() + DRY_RUN_RECHECK)
        return due

    async def _decide(
        self,
        body: dict[str, Any],
        spec: ModelDeploymentSpec,
        status: ModelDeploymentStatus,
        evaluation: list[CheckResult] | None,
        fresh: bool,
    ) -> tuple[Plan, bool]:
        """Read the workload and plan; a plan that acts is made again on fresh reads, with
        the same evaluation (module docstring). Returns it and whether reads were fresh."""
        meta = body["metadata"]
        while True:
            workload = await self._kube.read_workload(meta["namespace"], spec, status, fresh=fresh)
            observed = Observation(
                workload, requested_by(body), rollback_request(body), evaluation, self._dry_run
            )
            decided = plan(spec, status, meta.get("generation"), observed, self._clock())
            if fresh or not decided.actions:
                return decided, fresh
            await acting.confirm(self._kube, body)
            fresh = True

    async def _parse(self, body: dict[str, Any]) -> tuple[ModelDeploymentSpec, Origins]:
        """The spec with its templateRef checks resolved (a missing template is a
        ValueError, reported like any invalid spec)."""
        spec = parse_spec(body.get("spec"))
        namespace = body["metadata"]["namespace"]
        if self._templates is None:
            return await resolve_spec(self._kube, namespace, spec)
        # Before resolving: a template missing now kicks this object when it appears.
        self._templates.refer((namespace, body["metadata"]["name"]), named_by(namespace, spec))
        return await resolve_spec(self._templates, namespace, spec)

    async def _invalid(
        self, body: dict[str, Any], status: ModelDeploymentStatus, message: str, fresh: bool
    ) -> ModelDeploymentStatus:
        """Report an invalid spec, and still obey its kill switch if that part (and the
        target) can be read: the switch wins over everything, a typo included."""
        meta = body["metadata"]
        partial = kill_switch_part(body.get("spec") or {})
        generation = meta.get("generation")
        for _ in range(MAX_PASSES):
            kill: KillSwitchOnly | None = None
            if partial is not None and (partial.kill_switch.enabled or status.kill_switch.engaged):
                workload = await self._kube.read_workload(
                    meta["namespace"], partial, status, fresh=fresh
                )
                kill = KillSwitchOnly(
                    partial.kill_switch, workload, requested_by(body), dry_run=self._dry_run
                )
            decided = invalid_spec(status, message, generation, self._clock(), kill)
            status = await self._commit(body, status, decided, partial, verified=fresh)
            if not decided.actions or self._dry_run:
                break
        return status

    async def _teardown(
        self, body: dict[str, Any], status: ModelDeploymentStatus, fresh: bool
    ) -> bool:
        """The object is being deleted: restore what its status saved (core teardown)
        while it holds our finalizer, then remove the finalizer so that it can go.

        Level-based like everything else: a restart mid-way lists the object (still
        there, finalizer and all) and carries on from its status. Events are posted on
        the Deployment, where `kubectl describe deployment` shows them after the
        ModelDeployment is gone (and `kubectl get events` lists them with the rest).
        """
        meta = body["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return False  # nothing saved, or already restored
        namespace = meta["namespace"]
        try:
            spec: ModelDeploymentSpec | None = parse_spec(body.get("spec"))
        except (ValidationError, ValueError):
            spec = kill_switch_part(body.get("spec") or {})
        for _ in range(MAX_PASSES):
            if spec is None:
                workload = Workload(exists=False, problem="its spec names no readable target")
            else:
                workload = await self._kube.read_workload(namespace, spec, status, fresh=fresh)
            env = tag_env(spec) if spec is not None else DEFAULT_TAG_ENV
            decided = teardown(status, workload, meta["name"], env, self._clock())
            about = body
            if spec is not None and workload.exists:
                about = acting.deployment_ref(namespace, spec.target_ref.name, workload)
            status = await self._commit(body, status, decided, spec, about=about, verified=fresh)
            if not decided.actions:
                break
        return holds_state(status)

    async def _commit(
        self,
        body: dict[str, Any],
        before: ModelDeploymentStatus,
        decided: Plan,
        spec: ModelDeploymentSpec | None = None,
        about: dict[str, Any] | None = None,
        *,
        verified: bool,
    ) -> ModelDeploymentStatus:
        """Record the decision, hold the finalizer, act, announce, then let the finalizer
        go if nothing is left to restore; return the status written.

        Recording first is the crash-safety argument (see the module docstring). The
        finalizer (core.decision.teardown) is on the object before any action that it
        protects runs, so a delete can never lose a saved replica count, and it goes
        only once the status that no longer needs it is written (and its Events posted).
        The decision's Events are recorded with it, in status.pendingEvents under fixed
        names, and leave it once posted: a crash before they are posted posts them after
        the restart, exactly once. They are posted after the actions, so an Event never
        delays stopping a model; `about` is the object they are posted on (default: this
        ModelDeployment).
        """
        meta = body["metadata"]
        if decided.actions and not verified:
            raise _UnverifiedError  # an action is decided on fresh reads only
        if self._dry_run and spec is not None:
            decided = dryrun.hold(
                decided, before, spec.target_ref.name, self._clock(), meta.get("generation")
            )
        elif not self._dry_run:
            decided = dryrun.clear(decided)
        fresh = [
            OutgoingEvent(
                name=f"{meta['name'][:200]}.{uuid.uuid4().hex[:16]}",
                type=event.type,
                reason=event.reason,
                message=event.message,
            )
            for event in decided.events
        ]
        outbox = [*decided.status.pending_events, *fresh]
        status = decided.status.model_copy(update={"pending_events": outbox})
        if not self._gate():
            raise _NotLeadingError
        if self._notifier is not None and not self._dry_run:
            status = self._notifier.prepare(body, before, status, fresh, self._clock())
        if self._writes.needed(meta, before, status, acting=bool(decided.actions)):
            await acting.write_status(self._kube, meta, status)
        if holds_state(status) and not meta.get("deletionTimestamp"):
            await acting.set_finalizer(self._kube, body, present=True)
        acting.log_decisions(meta, fresh)
        if spec is not None and not self._dry_run and decided.actions and not self._gate():
            # Before the try: nothing more is written, Events included; the decision is
            # on record for the next leader (as after a crash).
            raise _NotLeadingError
        try:
            if spec is not None and self._dry_run:
                acting.describe(meta["namespace"], spec, decided.actions, status != before)
            elif spec is not None:
                await acting.act(self._kube, meta, spec, decided.actions)
        finally:
            # Announced even when an action failed: the decision stands (it is recorded
            # and will be retried), and the Event is what tells people about it.
            status = await acting.announce(self._kube, body, status, about or body)
        if self._notifier is not None and not self._dry_run:
            self._notifier.dispatch(body, status)  # after acting; never waits
        if not holds_state(status):
            await acting.set_finalizer(self._kube, body, present=False)
        return status


def _canary_step(status: ModelDeploymentStatus) -> tuple[object, ...] | None:
    """What a canary's evaluation was rendered for: its version, step and step start."""
    canary = status.canary
    return None if canary is None else (canary.version, canary.phase, canary.step, canary.ready_at)


def _kill_switch_pending(body: dict[str, Any]) -> bool:
    return kill_switch_state(body.get("spec") or {}, body.get("status") or {}).pending
