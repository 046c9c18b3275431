"""Adapters: the core's ports implemented with Prometheus and the Kubernetes API."""
