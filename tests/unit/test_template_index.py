"""The watched check templates (runtime.template_index) as the reconciler and the kopf
handlers use them: a template in the index costs no API read and an edit delivered by
the watch counts at the next evaluation; a template missing from the index is read from
the API server (so a missing one is still an InvalidSpec with one Event), and one that
appears later kicks the objects that named it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import kopf

from modelguard.core import conditions as cond
from modelguard.core.api import Condition
from modelguard.core.ports import QueryResult
from modelguard.runtime import handlers
from modelguard.runtime.reconciler import Reconciler
from modelguard.runtime.template_index import TemplateIndex
from tests.unit.test_handlers_lane import Recording, body
from tests.unit.test_reconciler import NAME, NS, WARM, World, running
from tests.unit.test_reconciler_templates import KIND, template, templated

Handler = Callable[..., Awaitable[None]]
cluster_event = cast(Handler, handlers.cluster_check_template_event)
namespaced_event = cast(Handler, handlers.check_template_event)


class Watched(World):
    """A World whose reconciles read templates from one index, as the operator's do."""

    def __init__(self) -> None:
        super().__init__()
        self.index = TemplateIndex(self.kube)

    async def reconcile(self) -> Any:
        reconciler = Reconciler(self.kube, self.prometheus, self.clock, templates=self.index)
        return await reconciler.reconcile(NS, NAME)

    def watch(self, minimum: float) -> set[tuple[str, str]]:
        """The watch delivers the template (the API server's copy is not consulted)."""
        return self.index.put(KIND, "", "f1-score", template(minimum))


def invalid(world: World) -> Condition | None:
    return cond.get_condition(world.status().conditions, cond.INVALID_SPEC)


async def test_an_indexed_template_is_never_read_and_an_edit_counts_next_evaluation() -> None:
    world = Watched()
    assert world.watch(0.5) == set()  # nobody named it yet: nothing to kick
    world.kube.create_model(NS, NAME, templated(2))
    await world.reconcile()
    world.clock.advance(WARM)
    world.prometheus.answers['version="v2"'] = QueryResult(value=0.7, series=1)
    await world.reconcile()
    assert world.runs() == running(2)  # 0.7 passes min 0.5
    assert world.watch(0.75) == set()  # an edit: no kick, the next evaluation reads it
    world.clock.advance(WARM)
    await world.reconcile()
    assert world.runs() == running(1)  # 0.7 < the edited min 0.75: rolled back
    assert world.kube.template_reads == 0


async def test_a_missing_template_is_invalid_once_and_its_appearance_kicks_the_object() -> None:
    world = Watched()
    world.kube.create_model(NS, NAME, templated(2))
    await world.reconcile()
    await world.reconcile()
    found = invalid(world)
    assert found is not None and found.status == "True"
    assert f"{KIND} 'f1-score' not found" in found.message
    assert world.kube.events().count("InvalidSpec") == 1
    assert world.kube.template_reads == 2  # not in the index: asked the API server

    assert world.watch(0.8) == {(NS, NAME)}  # it appears: the object is kicked
    await world.reconcile()
    found = invalid(world)
    assert found is not None and found.status == "False"
    assert world.kube.template_reads == 2


async def test_a_deleted_template_is_missing_again() -> None:
    world = Watched()
    world.watch(0.8)
    world.kube.create_model(NS, NAME, templated(2))
    await world.reconcile()
    world.index.remove(KIND, "", "f1-score")
    await world.reconcile()
    found = invalid(world)
    assert found is not None and found.status == "True"


def test_a_forgotten_object_is_not_kicked_and_namespaced_templates_are_per_namespace() -> None:
    index = TemplateIndex(World().kube)
    ns_kind = "ModelCheckTemplate"
    index.refer(("a", "x"), {(ns_kind, "a", "t"), (KIND, "", "t")})
    index.refer(("b", "y"), {(ns_kind, "b", "t")})
    index.forget(("b", "y"))
    assert index.put(ns_kind, "b", "t", {"spec": {}}) == set()
    assert index.put(ns_kind, "a", "t", {"spec": {}}) == {("a", "x")}
    assert index.put(KIND, "", "t", {"spec": {}}) == {("a", "x")}
    assert len(index) == 3


def template_body(name: str, namespace: str | None = None) -> kopf.Body:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return body({"metadata": meta, "spec": template()["spec"]})


async def test_the_handlers_feed_the_index_and_kick_who_waited() -> None:
    s = Recording()
    index = TemplateIndex(World().kube)
    memo = kopf.Memo(scheduler=s, templates=index)
    index.refer((NS, NAME), {(KIND, "", "f1-score"), ("ModelCheckTemplate", NS, "mine")})
    await cluster_event(type=None, body=template_body("f1-score"), name="f1-score", memo=memo)
    await cluster_event(type="MODIFIED", body=template_body("f1-score"), name="f1-score", memo=memo)
    await namespaced_event(
        type="ADDED", body=template_body("mine", NS), namespace=NS, name="mine", memo=memo
    )
    assert s.kicks == [((NS, NAME), False), ((NS, NAME), False)]  # not on the edit
    spec = await index.read_check_template("elsewhere", KIND, "f1-score")
    assert spec is not None and spec["spec"]["metric"] == "F1"
    await cluster_event(type="DELETED", body=template_body("f1-score"), name="f1-score", memo=memo)
    assert len(index) == 1
