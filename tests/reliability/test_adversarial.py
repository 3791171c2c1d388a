"""Hangs and leaks found by adversarial testing, from Ruby and Python at their real sizes:

- fork with a hung collector and spans queued: the fork waits for nothing (it used to flush for
  up to 1 s, holding Ruby's GVL: a 10 ms ticker thread stalled 1.009 s);
- ``flush(20)`` with a hung collector reacts to Ctrl-C (and Ruby's ``Thread#raise``) within a
  slice of 50 ms (it used to wait the whole 20 s);
- a span with 1,000,000 fields (100,000 in the test command) returns in linear time and keeps
  ``OTEL_ATTRIBUTE_COUNT_LIMIT`` of them (it was quadratic: 64k fields took 7 s);
- 100,000 distinct metric names and 100,000 distinct span shapes (20,000 in the test command)
  leave memory bounded (they used to keep 8.6 KB per name and 1.6 KB per shape forever).

The assertions are bounds that the old behaviour broke by far; the figures go to
tests/RELIABILITY.md."""

from __future__ import annotations

import pytest

from harness import figures
from harness.collector import Collector
from harness.hung import HungServer
from probing import FULL, last_figures, run_probe

LANGS = ["python", "ruby"]


@pytest.mark.parametrize("lang", LANGS)
def test_fork_with_a_hung_collector_waits_for_nothing(lang: str) -> None:
    server = HungServer()
    try:
        proc = run_probe(lang, "fork_hung", {"ENDPOINT": server.endpoint, "SERVICE": f"{lang}-fork-hung"}, timeout=120)
    finally:
        server.close()
    f = last_figures(proc.stdout)
    assert f["fork_ms_max"] < 500, f
    assert f["ticker_max_gap_ms"] < 500, f
    figures.record(
        f"fork_hung_collector_{lang}",
        lang=lang,
        load=f"200 spans queued, {f['forks']} forks, a 10 ms ticker thread",
        faults="collector accepts and never answers",
        bad_inputs="-",
        lost="0 (the parent keeps its queue)",
        fork_ms_median=f["fork_ms_median"],
        fork_ms_max=f["fork_ms_max"],
        ticker_max_gap_ms=f["ticker_max_gap_ms"],
    )


@pytest.mark.parametrize("lang", LANGS)
def test_a_long_flush_reacts_to_interrupts(lang: str) -> None:
    server = HungServer()
    try:
        proc = run_probe(lang, "flush_interrupt", {"ENDPOINT": server.endpoint, "SERVICE": f"{lang}-interrupt"}, timeout=120)
    finally:
        server.close()
    f = last_figures(proc.stdout)
    assert f["interrupted"], f
    assert f["signal_to_exception_ms"] < 2000, f
    if lang == "ruby":
        assert f["thread_raise_to_exception_ms"] < 2000, f
    extra = {"thread_raise_to_exception_ms": f["thread_raise_to_exception_ms"]} if lang == "ruby" else {}
    figures.record(
        f"flush_interrupted_{lang}",
        lang=lang,
        load="20 spans queued; flush(20 s)",
        faults="collector hung; SIGINT after 0.3 s" + ("; Thread#raise after 0.3 s" if lang == "ruby" else ""),
        bad_inputs="-",
        lost="20 (counted; still pending when interrupted)",
        signal_to_exception_ms=f["signal_to_exception_ms"],
        **extra,
    )


@pytest.mark.parametrize("lang", LANGS)
def test_a_span_with_a_million_fields(collector: Collector, lang: str) -> None:
    n = 1_000_000 if FULL else 100_000
    proc = run_probe(lang, "many_fields", {"ENDPOINT": collector.http_endpoint, "SERVICE": f"{lang}-wide", "N": str(n)}, timeout=300)
    f = last_figures(proc.stdout)
    assert f["seconds"] < 30, f
    span = collector.wait_for_spans(["wide"], timeout=30)["wide"]
    assert 0 < len(span.attributes) <= 128 + 8, len(span.attributes)
    figures.record(
        f"many_fields_{lang}",
        lang=lang,
        load=f"one span with {n:,} distinct fields",
        faults="-",
        bad_inputs="-",
        lost=f"{n - 128:,} fields over OTEL_ATTRIBUTE_COUNT_LIMIT (128), counted",
        seconds=f["seconds"],
        attributes_exported=len(span.attributes),
        stats=f["stats"],
    )


@pytest.mark.parametrize("kind", ["metric", "shape"])
@pytest.mark.parametrize("lang", LANGS)
def test_distinct_names_leave_memory_bounded(collector: Collector, lang: str, kind: str) -> None:
    n = 100_000 if FULL else 20_000
    proc = run_probe(lang, "many_names", {"ENDPOINT": collector.http_endpoint, "SERVICE": f"{lang}-names", "N": str(n), "KIND": kind}, timeout=600)
    f = last_figures(proc.stdout)
    assert f["growth_mib"] < 64, f
    if kind == "metric":
        assert f["stats"]["metrics_dropped"] >= n - 1000, f
    figures.record(
        f"many_{kind}_names_{lang}",
        lang=lang,
        load=f"{n:,} distinct {'metric names' if kind == 'metric' else 'span shapes (a key of its own each)'}",
        faults="-",
        bad_inputs="-",
        lost=f"{f['stats']['metrics_dropped']:,} calls past the instrument cap (1000 names), counted"
        if kind == "metric"
        else "0 (past the shape budget, spans keep their fields on the fallback shape)",
        rss_kib_before=f["rss_kib_before"],
        rss_kib_after=f["rss_kib_after"],
        growth_mib=f["growth_mib"],
        seconds=f["seconds"],
    )
