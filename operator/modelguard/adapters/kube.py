"""Kubernetes adapter: read and patch the guarded workload, the CR status, and Events.

The kubernetes client is synchronous; every call runs in a worker thread of the executor
the adapter is given, which serves Kubernetes calls only: a Prometheus that hangs holds
threads of its own pool, never these, so a kill switch always finds a thread (and, with
the client's pool sized to match, a connection) for its patch. API errors are
translated into the domain's terms here (absent object -> Workload(exists=False)), so
the reconciler never sees an ApiException for an expected situation.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any, TypeVar, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modelguard.adapters import kube_objects as objects
from modelguard.adapters.kube_canary import apply_canary, canary_in_play, read_canary
from modelguard.adapters.kube_events import EVENT_SOURCE, core_event
from modelguard.adapters.kube_route import apply_route, read_route
from modelguard.core import api
from modelguard.core.api import (
    DEFAULT_TRACK_LABEL,
    KillSwitchMode,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelVersion,
)
from modelguard.core.api.templates import CLUSTER_TEMPLATE_KIND
from modelguard.core.canary import Owner
from modelguard.core.canary import route as routing
from modelguard.core.guarded import DEPLOYMENT, SERVICE, guarded_objects
from modelguard.core.workload import (
    Action,
    CanaryAction,
    DeleteCanaryService,
    EnsureCanaryService,
    Event,
    Progressing,
    RouteState,
    Scale,
    ServiceState,
    SetRouteWeight,
    SetSelector,
    SetVersion,
    Workload,
)

log = logging.getLogger(__name__)

FIELD_MANAGER = "modelguard"  # names the operator's writes in managedFields

_T = TypeVar("_T")


def load_api_client(pool_size: int | None = None) -> client.ApiClient:
    """In a pod: the ServiceAccount; elsewhere: KUBECONFIG or ~/.kube/config.

    pool_size: HTTP connections kept open, at least one per worker thread; with fewer,
    urllib3 opens and drops a connection (a TLS handshake) per request beyond the pool.
    """
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


class KubeAdapter:
    """Implements modelguard.core.ports.Workloads on the Kubernetes API."""

    def __init__(
        self,
        api_client: client.ApiClient,
        executor: Executor | None = None,
        *,
        instance: str = EVENT_SOURCE,
    ) -> None:
        """executor: where the blocking calls run (None: asyncio's default executor);
        instance: this replica's identity, the reportingInstance of its Events (which
        replica decided is then on record)."""
        self._client = api_client
        self._instance = instance
        self._executor = executor
        self._apps = client.AppsV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._autoscaling = client.AutoscalingV2Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)

    async def _thread(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------- ModelDeployments

    async def get_model_deployment(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> dict[str, Any] | None:
        return await self._thread(objects.get_model_deployment, self._custom, namespace, name)

    async def list_model_deployments(self, namespace: str) -> list[dict[str, Any]]:
        """Every ModelDeployment of `namespace`, as stored (runtime.sweep)."""
        return await self._thread(objects.list_model_deployments, self._custom, namespace)

    async def write_status(
        self,
        namespace: str,
        name: str,
        status: ModelDeploymentStatus,
        resource_version: str | None = None,
    ) -> str | None:
        return await self._thread(
            objects.write_status, self._custom, namespace, name, status, resource_version
        )

    async def set_finalizer(
        self,
        namespace: str,
        name: str,
        finalizer: str,
        present: bool,
        resource_version: str | None = None,
        known: Sequence[str] | None = None,
    ) -> str | None:
        return await self._thread(
            objects.set_finalizer,
            self._custom,
            namespace,
            name,
            finalizer,
            present,
            resource_version,
            known,
        )

    # ------------------------------------------------------------- workload

    async def read_workload(
        self,
        namespace: str,
        spec: ModelDeploymentSpec,
        status: ModelDeploymentStatus,
        *,
        fresh: bool = False,  # always: every read here goes to the API server
    ) -> Workload:
        if not (spec.kill_switch.enabled and not status.kill_switch.engaged):
            return await self._thread(self._read_workload, namespace, spec, status)
        # An engage: the HPA look-up (for the Event only) runs beside the reads, not after
        # them, one round trip less on the way to stopping the model.
        workload, autoscaler = await asyncio.gather(
            self._thread(self._read_workload, namespace, spec, status),
            self._thread(self._autoscaler, namespace, spec.target_ref.name),
        )
        return replace(workload, autoscaler=autoscaler) if workload.exists else workload

    def _read_workload(
        self, namespace: str, spec: ModelDeploymentSpec, status: ModelDeploymentStatus
    ) -> Workload:
        # Exactly the objects the runtime watches for this ModelDeployment (at most one of
        # each kind), so no change to what is read here goes unnoticed.
        guarded = dict(guarded_objects(spec.target_ref.name, spec.kill_switch, status.kill_switch))
        deployment = self._read(
            self._apps.read_namespaced_deployment, guarded[DEPLOYMENT], namespace
        )
        if deployment is None:
            return Workload(exists=False)
        container = _container(deployment, spec.target_ref.container)
        if container is None:
            return Workload(
                exists=False,
                problem=f"Deployment {spec.target_ref.name!r} has no container "
                f"{spec.target_ref.container!r}",
            )
        tag_env = spec.version.model_tag_env if spec.version else "MODEL_VERSION"
        tag = next(
            (e.get("value") for e in container.get("env", []) if e.get("name") == tag_env), None
        )
        replicas = deployment["spec"].get("replicas", 1)

        service: ServiceState | None = None
        fallback_ready: int | None = None
        fallback = spec.kill_switch.fallback
        uses_fallback = (
            spec.kill_switch.mode is KillSwitchMode.FALLBACK
            or status.kill_switch.mode is KillSwitchMode.FALLBACK
        )
        # The Service and the fallback's pods matter only while the switch is engaging,
        # engaged or releasing: a preconfigured fallback must not cost a GET and a LIST
        # on every reconcile of a model that runs normally.
        switching = spec.kill_switch.enabled or status.kill_switch.engaged
        service_name = guarded.get(SERVICE) if switching else None
        if service_name is not None:
            svc = self._read(self._core.read_namespaced_service, service_name, namespace)
            service = ServiceState(
                name=service_name,
                exists=svc is not None,
                selector=dict((svc or {}).get("spec", {}).get("selector") or {}),
            )
        if fallback is not None and uses_fallback and switching:
            fallback_ready = self._ready_pods(namespace, fallback.selector)
        return Workload(
            exists=True,
            uid=str(deployment["metadata"].get("uid", "")),
            container=str(container["name"]),
            version=ModelVersion(image=container.get("image"), model_tag=tag),
            replicas=int(replicas),
            ready_replicas=int(deployment.get("status", {}).get("readyReplicas", 0)),
            **_rollout(deployment),
            service=service,
            fallback_ready_pods=fallback_ready,
            canary=read_canary(self._apps, self._read, namespace, spec, deployment, _container)
            if canary_in_play(spec, status.canary is not None)
            else None,
            route=self._route(namespace, spec, status, deployment),
        )

    def _route(
        self,
        namespace: str,
        spec: ModelDeploymentSpec,
        status: ModelDeploymentStatus,
        deployment: dict[str, Any],
    ) -> RouteState | None:
        route = routing.route_in_play(spec, status)
        if route is None:
            return None
        track = spec.canary.track_label if spec.canary else DEFAULT_TRACK_LABEL
        return read_route(self._custom, self._core, self._read, namespace, route, deployment, track)

    def _read(self, method: Any, name: str, namespace: str) -> dict[str, Any] | None:
        """Read an object as a plain camelCase dict; None when it does not exist."""
        try:
            obj = method(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return self._plain(obj)

    def _plain(self, obj: object) -> dict[str, Any]:
        return cast(dict[str, Any], self._client.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]

    def _autoscaler(self, namespace: str, deployment: str) -> str | None:
        """The HPA that targets the Deployment. Best-effort: it only adds a note to the
        engage Event, so a refusal (no RBAC for HPAs, 403) must not fail the engage."""
        try:
            listed = self._plain(
                self._autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace)
            )
        except ApiException as exc:
            log.debug("HorizontalPodAutoscalers not listed: %s", exc.reason)
            return None
        for hpa in listed.get("items", []):
            ref = hpa.get("spec", {}).get("scaleTargetRef", {})
            if ref.get("kind") == "Deployment" and ref.get("name") == deployment:
                return str(hpa["metadata"]["name"])
        return None

    def _ready_pods(self, namespace: str, selector: dict[str, str]) -> int:
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = self._plain(self._core.list_namespaced_pod(namespace, label_selector=label_selector))
        return sum(
            1
            for pod in pods.get("items", [])
            if not pod["metadata"].get("deletionTimestamp")
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in pod.get("status", {}).get("conditions", [])
            )
        )

    async def apply(self, namespace: str, spec: ModelDeploymentSpec, action: Action) -> None:
        await self._thread(self._apply, namespace, spec, action)

    def _apply(self, namespace: str, spec: ModelDeploymentSpec, action: Action) -> None:
        name = spec.target_ref.name
        if isinstance(action, Scale):
            self._apps.patch_namespaced_deployment(
                name,
                namespace,
                {"spec": {"replicas": action.replicas}},
                field_manager=FIELD_MANAGER,
            )
        elif isinstance(action, SetVersion):
            self._apps.patch_namespaced_deployment(
                name,
                namespace,
                self._version_patch(namespace, spec, action),
                field_manager=FIELD_MANAGER,
            )
        elif isinstance(action, SetSelector):
            # A JSON patch replaces the selector whole; a merge patch would keep old keys
            # and select neither the model nor the fallback.
            self._core.patch_namespaced_service(
                action.service,
                namespace,
                [{"op": "replace", "path": "/spec/selector", "value": action.selector}],
                field_manager=FIELD_MANAGER,
            )

    def _version_patch(
        self, namespace: str, spec: ModelDeploymentSpec, action: SetVersion
    ) -> dict[str, Any]:
        deployment = self._read(
            self._apps.read_namespaced_deployment, spec.target_ref.name, namespace
        )
        container = _container(deployment or {}, spec.target_ref.container)
        if container is None:
            raise LookupError(f"Deployment {spec.target_ref.name!r} or its container is gone")
        patch: dict[str, Any] = {"name": container["name"]}
        if action.version.image is not None:
            patch["image"] = action.version.image
        if action.version.model_tag is not None:
            # Strategic merge: env entries merge by name, other variables stay.
            patch["env"] = [{"name": action.tag_env, "value": action.version.model_tag}]
        return {"spec": {"template": {"spec": {"containers": [patch]}}}}

    async def apply_canary(
        self, namespace: str, spec: ModelDeploymentSpec, owner: Owner, action: CanaryAction
    ) -> None:
        if isinstance(action, SetRouteWeight | EnsureCanaryService | DeleteCanaryService):
            await self._thread(
                apply_route, self._custom, self._core, self._read, namespace, spec, owner, action
            )
            return
        await self._thread(apply_canary, self._apps, self._read, namespace, spec, owner, action)

    # ------------------------------------------------------------- Prometheus auth

    async def read_secret_key(self, namespace: str, name: str, key: str) -> str:
        secret = await self._thread(self._read, self._core.read_namespaced_secret, name, namespace)
        data = ((secret or {}).get("data") or {}).get(key)
        if data is None:
            raise LookupError(f"Secret {name!r} not found or has no key {key!r}")
        return base64.b64decode(data).decode().strip()

    # ------------------------------------------------------------- check templates

    async def read_check_template(
        self, namespace: str, kind: str, name: str
    ) -> dict[str, Any] | None:
        return await self._thread(self._read_check_template, namespace, kind, name)

    def _read_check_template(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        try:
            if kind == CLUSTER_TEMPLATE_KIND:
                body = self._custom.get_cluster_custom_object(
                    api.GROUP, api.VERSION, "clustermodelchecktemplates", name
                )
            else:
                body = self._custom.get_namespaced_custom_object(
                    api.GROUP, api.VERSION, namespace, "modelchecktemplates", name
                )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return cast(dict[str, Any], body)

    # ------------------------------------------------------------- Events

    async def emit(self, body: dict[str, Any], event: Event, name: str | None = None) -> None:
        """Post an Event; with a name, posting it again (after a crash) is a no-op."""
        meta = body.get("metadata", {})
        ev = core_event(body, event, name, self._instance)
        try:
            await self._thread(self._core.create_namespaced_event, meta.get("namespace"), ev)
        except ApiException as exc:
            if exc.status == 409 and name:
                return  # posted before a crash: already on record
            # An Event is a record, not state: losing one must not fail the reconcile.
            log.warning("Event %s not posted: %s", event.reason, exc.reason)


def _rollout(deployment: dict[str, Any]) -> dict[str, Any]:
    """The Workload fields that describe the rollout, from the Deployment's status (the
    API server omits zero counts, so an absent count is 0)."""
    status = deployment.get("status") or {}
    progressing = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None
    )
    return {
        "updated_replicas": int(status.get("updatedReplicas", 0)),
        "available_replicas": int(status.get("availableReplicas", 0)),
        "total_replicas": int(status.get("replicas", 0)),
        "rollout_observed": int(status.get("observedGeneration", 0))
        >= int(deployment["metadata"].get("generation", 0)),
        "progressing": None
        if progressing is None
        else Progressing(
            status=progressing.get("status", "Unknown"),
            reason=progressing.get("reason", ""),
            message=progressing.get("message", ""),
        ),
    }


def _container(deployment: dict[str, Any], wanted: str | None) -> dict[str, Any] | None:
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
    return next((c for c in containers or [] if wanted is None or c["name"] == wanted), None)
