"""The vendored W3C harness (``trace-context/``) is run by ``test_trace_context.py``, not
collected: its own ``self_test.py`` and ``tracecontext/test_*.py`` test the harness itself."""

collect_ignore = ["trace-context"]
