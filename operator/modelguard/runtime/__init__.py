"""The thin runtime: kopf handlers that wire watch events to the scheduler, the
scheduler that runs one reconcile per object at a time, the reconciler that drives the
pure core through the ports, settings and the operator's own metrics."""
