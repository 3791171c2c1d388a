"""Fixtures of the cross-language tests (run by scripts/test-integration.sh)."""

from __future__ import annotations

from typing import Iterator

import pytest

from harness.collector import Collector


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A real OTLP collector (rotel-agent) on free loopback ports."""
    with Collector() as c:
        yield c
