"""The pieces of ``benchmarks/scale.py``: the fleet's creation, the server-side readings
(audit log, Prometheus' and the operator's own counters, /proc) and the report."""
