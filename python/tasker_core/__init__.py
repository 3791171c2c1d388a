"""Tasker for Python. ``from tasker_core import tracing`` gives the telemetry API
(:mod:`tasker_core.tracing`): spans, logs, correlation, propagation and metrics on the Rust core.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
