"""Shared harness of the cross-language tests: a real OTLP collector and the installed packages."""
