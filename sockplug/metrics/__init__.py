"""
C{--metrics}: snapshots of every listener, the Prometheus collector and
the status page.
"""

from sockplug.metrics._prometheus import MetricsService, MetricsSite

__all__ = [
    "MetricsService",
    "MetricsSite",
]
