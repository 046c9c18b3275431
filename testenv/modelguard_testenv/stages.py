"""kwok Stages the harness adds to kwok's own: pods that never become Ready.

kwok's pod-ready stage makes every pod Ready at once. A test of what happens when a
version's pods never get there (crash loop, image pull error, a model that runs out of
memory while loading) names an image containing NEVER_READY: this stage, weighted above
pod-ready (which has no weight, and kwok picks only among weighted stages when any
match), gives such a pod an IP and Running, but Ready=False and a container in
CrashLoopBackOff, and nothing moves it on from there. Keyed on the image, not on an
annotation, so that a rollback (which changes only the image) brings Ready pods back.
"""

from __future__ import annotations

from pathlib import Path

NEVER_READY = "never-ready"

POD_NEVER_READY = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: modelguard-pod-never-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'DoesNotExist'
    - key: '.spec.containers.[] | select(.image | contains("NEVER_READY")) | .image'
      operator: 'Exists'
  weight: 1
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $meta := .metadata }}
      {{ $hostNet := or .spec.hostNetwork false }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 5
        state:
          waiting:
            reason: CrashLoopBackOff
            message: back-off restarting failed container
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName $hostNet $meta.uid $meta.name $meta.namespace | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
""".replace("NEVER_READY", NEVER_READY)


def write_stages(directory: Path) -> Path:
    """Write the harness's stages into `directory`; return the file for kwok --config."""
    path = directory / "modelguard-stages.yaml"
    path.write_text(POD_NEVER_READY)
    return path
