"""Kill-switch latency on the real local control plane, with the real operator process.

    python -m benchmarks.killswitch [--sizes 1,100,500] [--kills 30] [--fallback-size 100]

What runs: ``modelguard_testenv.ControlPlane`` (etcd, kube-apiserver, controller-manager,
scheduler, kwok with one fake node), the CRD and ``deploy/base/rbac.yaml`` applied, and the
operator started by ``OperatorProcess`` exactly as a pod runs it (``kopf run``, all
namespaces) with the ServiceAccount's identity. For each size N, N ModelDeployments are
present, each guarding its own 1-replica Deployment (kill-switch only: no analysis, so no
Prometheus), all reconciled (every one has ``status.phase``) before anything is measured.

What is measured, per kill (a merge patch of spec.killSwitch, as ``kubectl patch`` sends):

- kill: from the PATCH call returning to the arrival of the Deployment watch event that
  shows ``spec.replicas == 0``. The watch is opened before the first patch, and events are
  timestamped as their line arrives, before any parsing;
- restore: from the release PATCH returning to the event with the saved replica count;
- fallback mode: the same, to the Service watch event with the fallback selector, and back.

For reference each sample also keeps the MD's resourceVersion and managedFields time from
the PATCH response and the operator's own log timestamps (``--log-format=json``): when
kopf handled the MD event and when the reconciler applied the action, which splits the
latency into watch delivery, reconcile, and the action's round trip.

Results go to ``benchmarks/results/kill_switch.{md,json}`` (``--output`` changes the stem).

Modules: ``bench`` drives the scenarios (setup, one-at-a-time and fleet kills) on the
watches of ``modelguard_testenv.recording`` (shared with the e2e tier), ``samples`` holds
the measured samples and the operator-log split, ``probe`` the CPU/API-request probe,
``report`` the Markdown/JSON output, ``__main__`` the command line.
"""
