"""Watch-based recording of what the API server shows, for the e2e tier and the benchmark.

Polling would both miss changes (a version applied and reverted between two polls: an
operator fighting itself) and blur latencies by its interval. A WATCH in a thread sees
every change, and each event is stamped the moment its line arrives, before parsing.

- ``Watcher``: a raw WATCH of one list call; ``wait`` for the first event of an object
  that satisfies a predicate, ``events`` for all of them.
- ``VersionRecorder``: every (image, MODEL_VERSION) a Deployment's pod template takes.
- ``as_json``: a custom-object response (or a watch event's object) as a checked dict.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self, TypeVar, cast

import urllib3
from kubernetes import client as k8s
from kubernetes.watch.watch import iter_resp_lines

from modelguard_testenv._process import StartStop
from modelguard_testenv.controlplane import ControlPlane

__all__ = ["Seen", "VersionRecorder", "Watcher", "as_json", "template_version"]


def as_json(obj: object) -> dict[str, Any]:
    """A custom-object response: the client returns it as plain JSON, typed ``object``."""
    if not isinstance(obj, dict):
        raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


@dataclass(frozen=True)
class Seen:
    """One watch event, stamped on arrival (perf_counter and wall clock)."""

    at: float
    wall: float
    type: str
    obj: dict[str, Any]


class Watcher(StartStop):
    """A raw WATCH in a thread, from ``resource_version`` on, of ``list_call(*args, **kwargs)``
    (e.g. ``AppsV1Api.list_namespaced_deployment``, "ns"). Use it as a context manager.

    When the server ends the stream (``timeout_seconds``), the watch resumes from the last
    resourceVersion seen, so no event is missed. An error of the watch itself is raised by
    ``wait`` and ``events``: a watcher that died silently would prove nothing. ``client``,
    if given, is the ApiClient of ``list_call`` alone (a stream holds its connection, so it
    is best not shared with the caller's thread); it is closed when the watcher stops.
    """

    def __init__(
        self,
        name: str,
        list_call: Callable[..., object],
        *args: object,
        resource_version: str,
        timeout_seconds: int = 1800,
        client: k8s.ApiClient | None = None,
        **kwargs: object,
    ) -> None:
        self.name = name
        self._call = list_call
        self._args = args
        self._kwargs = kwargs
        self._timeout = timeout_seconds
        self._rv = resource_version
        self._events: dict[str, list[Seen]] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._resp: urllib3.BaseHTTPResponse | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch {name}", daemon=True)
        self._cleanup = contextlib.ExitStack()
        if client is not None:
            self._cleanup.callback(client.close)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        with contextlib.suppress(Exception):
            if self._resp is not None:
                self._resp.shutdown()  # unblocks the read at once, whatever the server does
        self._thread.join(timeout=5)
        self._cleanup.close()

    def _open(self) -> urllib3.BaseHTTPResponse:
        response = self._call(
            *self._args,
            **self._kwargs,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=self._rv,
            timeout_seconds=self._timeout,
            _preload_content=False,
        )
        # With _preload_content=False the client returns the raw urllib3 response, whatever
        # the list type its generated signature names.
        return cast(urllib3.BaseHTTPResponse, response)

    def _run(self) -> None:
        try:
            while not self._stop:
                self._resp = self._open()
                try:
                    for line in iter_resp_lines(self._resp):  # type: ignore[no-untyped-call]  # kubernetes.watch is untyped
                        at, wall = time.perf_counter(), time.time()
                        if not line:
                            continue
                        self._add(at, wall, json.loads(line))
                        if self._stop:
                            break
                finally:
                    with contextlib.suppress(Exception):
                        self._resp.release_conn()
        except BaseException as exc:  # surfaced to the waiting thread
            if not self._stop:
                self.error = exc
                with self._cond:
                    self._cond.notify_all()

    def _add(self, at: float, wall: float, event: dict[str, Any]) -> None:
        obj = event.get("object") or {}
        if event.get("type") == "ERROR":
            raise RuntimeError(f"watch {self.name} failed: {obj}")
        self._rv = obj.get("metadata", {}).get("resourceVersion", self._rv)
        if event.get("type") == "BOOKMARK":
            return
        with self._cond:
            name = obj["metadata"]["name"]
            self._events.setdefault(name, []).append(Seen(at, wall, str(event.get("type")), obj))
            self._cond.notify_all()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"watch {self.name} died: {self.error!r}") from self.error

    def events(self, name: str) -> list[Seen]:
        """Every event of object ``name`` so far, in arrival order."""
        with self._cond:
            self._raise_error()
            return list(self._events.get(name, []))

    def wait(
        self, name: str, predicate: Callable[[dict[str, Any]], bool], after: float, timeout: float
    ) -> Seen:
        """The first event of object `name` arriving after `after` (perf_counter) that
        satisfies `predicate`."""
        deadline = time.perf_counter() + timeout
        with self._cond:
            checked = 0
            while True:
                self._raise_error()
                events = self._events.get(name, [])
                for seen in events[checked:]:
                    if seen.at >= after and predicate(seen.obj):
                        return seen
                checked = len(events)
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name}/{name}: no matching event in {timeout}s")
                self._cond.wait(remaining)


def template_version(deployment: dict[str, Any]) -> tuple[str, str | None]:
    """(image, MODEL_VERSION) of a Deployment's first container, from its JSON."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    tag = next(
        (e.get("value") for e in container.get("env") or [] if e["name"] == "MODEL_VERSION"), None
    )
    return str(container["image"]), tag


def replicas_and_version(deployment: dict[str, Any]) -> tuple[int, str, str | None]:
    """(spec.replicas, image, MODEL_VERSION) of a Deployment, from its JSON."""
    return (int(deployment["spec"].get("replicas", 1)), *template_version(deployment))


class VersionRecorder(StartStop):
    """Watches one Deployment; ``versions`` lists each (image, MODEL_VERSION) its template
    took, ``states`` each (replicas, image, MODEL_VERSION) its spec took; consecutive
    repeats (status updates; for ``versions`` also scaling) collapsed."""

    def __init__(self, control_plane: ControlPlane, namespace: str, name: str) -> None:
        self._namespace = namespace
        self._name = name
        self._client = control_plane.api_client()  # the watcher's alone; it closes it
        self._apps = k8s.AppsV1Api(self._client)
        self._initial: list[dict[str, Any]] = []
        self._watcher: Watcher | None = None

    def start(self) -> Self:
        selector = f"metadata.name={self._name}"
        listed = self._apps.list_namespaced_deployment(
            self._namespace, field_selector=selector, _preload_content=False
        )
        # Raw JSON, as the watch delivers it: one representation for both.
        body = json.loads(cast(urllib3.BaseHTTPResponse, listed).data)
        self._initial = list(body["items"])
        self._watcher = Watcher(
            f"deployment {self._name}",
            self._apps.list_namespaced_deployment,
            self._namespace,
            resource_version=body["metadata"]["resourceVersion"],
            field_selector=selector,
            client=self._client,
        ).start()
        return self

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def _seen(self) -> list[dict[str, Any]]:
        """The Deployment as listed, then as each ADDED/MODIFIED event brought it."""
        if self._watcher is None:
            raise RuntimeError("VersionRecorder is used as a context manager")
        try:
            events = self._watcher.events(self._name)
        except RuntimeError as exc:
            raise AssertionError(f"the Deployment watch failed: {exc.__cause__!r}") from exc
        return self._initial + [e.obj for e in events if e.type in ("ADDED", "MODIFIED")]

    @property
    def versions(self) -> list[tuple[str, str | None]]:
        return _collapsed([template_version(obj) for obj in self._seen()])

    @property
    def states(self) -> list[tuple[int, str, str | None]]:
        return _collapsed([replicas_and_version(obj) for obj in self._seen()])


T = TypeVar("T")


def _collapsed(seen: list[T]) -> list[T]:
    return [v for i, v in enumerate(seen) if i == 0 or seen[i - 1] != v]
