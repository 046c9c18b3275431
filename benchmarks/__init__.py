"""Benchmarks on the real local control plane (run as modules: ``python -m benchmarks.X``)."""
