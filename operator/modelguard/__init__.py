"""modelguard: guards ML model Deployments with metric-driven rollback and a kill switch."""

__version__ = "0.1.0"
