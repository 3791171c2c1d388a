"""Load at a real collector: 8 Ruby and 8 Python threads x 10,000 spans with events, 1,000
concurrent asyncio tasks with nested spans (counts exact, parent ids right), and a soak whose
resident memory, sampled every tenth of the run, must stay flat (Ruby, Python, Rust).

The soak is 100,000 spans per language in the test command; ``TASKER_RELIABILITY_FULL=1``
(``scripts/reliability.sh --full``) runs 1,000,000."""

from __future__ import annotations

from typing import Dict, List

import pytest

from harness import figures
from harness.collector import Collector, Span
from probing import FULL, last_figures, run_probe


@pytest.mark.parametrize("lang", ["python", "ruby"])
def test_eight_threads_of_ten_thousand_spans(collector: Collector, lang: str) -> None:
    threads, n = 8, 10_000
    proc = run_probe(lang, "threads", {"ENDPOINT": collector.http_endpoint, "SERVICE": f"{lang}-threads", "THREADS": str(threads), "N": str(n)})
    f = last_figures(proc.stdout)
    assert not f["errors"], f
    sent = threads * (n + 1)
    assert f["stats"]["spans_dropped"] == 0 and f["stats"]["spans_exported"] == sent, f
    assert collector.wait_for_span_count(sent, timeout=120) == sent
    spans = collector.spans()
    roots: Dict[str, Span] = {s.attributes["thread"]: s for s in spans if s.name == "thread_root"}
    assert len(roots) == threads
    wrong = [s for s in spans if s.name == "work" and s.parent_id != roots[s.attributes["thread"]].span_id]
    assert not wrong, f"{len(wrong)} spans with a wrong parent, e.g. {wrong[0]}"
    events = sum(len(s.events) for s in spans if s.name == "work")
    assert events == threads * n
    figures.record(
        f"threads_{lang}",
        lang=lang,
        load=f"{threads} threads x {n} spans with an event, under a root span each",
        faults="-",
        bad_inputs="-",
        lost=sent - len(spans),
        sent=sent,
        received=len(spans),
        wrong_parents=len(wrong),
        seconds=f["seconds"],
    )


def test_a_thousand_concurrent_asyncio_tasks(collector: Collector) -> None:
    tasks = 1000
    proc = run_probe("python", "asyncio", {"ENDPOINT": collector.http_endpoint, "SERVICE": "python-asyncio", "TASKS": str(tasks)})
    f = last_figures(proc.stdout)
    sent = tasks * 3
    assert collector.wait_for_span_count(sent, timeout=60) == sent
    spans = collector.spans()
    by: Dict[str, Dict[str, Span]] = {"task": {}, "step": {}, "leaf": {}}
    for s in spans:
        by[s.name][s.attributes["t"]] = s
    wrong: List[str] = []
    for t, task in by["task"].items():
        if task.parent_id:
            wrong.append(f"task {t} has a parent")
        if by["step"][t].parent_id != task.span_id:
            wrong.append(f"step {t}")
        if by["leaf"][t].parent_id != by["step"][t].span_id:
            wrong.append(f"leaf {t}")
    assert not wrong, wrong[:10]
    assert len({s.trace_id for s in by["task"].values()}) == tasks, "each task is its own trace"
    figures.record(
        "asyncio_python",
        lang="python",
        load=f"{tasks} concurrent asyncio tasks x 3 nested spans",
        faults="-",
        bad_inputs="-",
        lost=sent - len(spans),
        sent=sent,
        received=len(spans),
        wrong_parents=len(wrong),
        seconds=f["seconds"],
    )


@pytest.mark.parametrize("lang", ["python", "ruby", "rust"])
def test_soak_memory_stays_flat(lang: str) -> None:
    total = 1_000_000 if FULL else 100_000
    every = total // 10
    with Collector(detailed=False) as collector:
        proc = run_probe(
            lang,
            "soak",
            {"ENDPOINT": collector.http_endpoint, "SERVICE": f"{lang}-soak", "N": str(total), "SAMPLE_EVERY": str(every)},
            timeout=3600,
        )
        f = last_figures(proc.stdout)
        stats = f["stats"]
        expected = stats["spans_ended"] - stats["spans_dropped"]
        received = collector.wait_for_span_count(expected, timeout=300)
    assert stats["spans_ended"] == total and received == expected, f
    samples = f["rss_kib_samples"]
    # Sampled after a flush each tenth of the run: after the first tenth (allocator, caches and
    # the export queue warm) memory stays flat: no leak of span handles, interned callsites or
    # metric series.
    settled = samples[2:]
    growth = max(settled) - min(settled)
    assert growth < 24 * 1024, f"resident memory grew {growth} KiB after warm-up: {samples}"
    figures.record(
        f"soak_{lang}",
        lang=lang,
        load=f"{total:,} spans with an event and 4 attributes, 20 span names, export to the collector",
        faults="-",
        bad_inputs="-",
        lost=f"{stats['spans_dropped']} (dropped and counted)" if stats["spans_dropped"] else 0,
        sent=total,
        received=received,
        rss_kib_samples=samples,
        rss_growth_after_warmup_kib=growth,
        seconds=f["seconds"],
        **({"interned_callsites": f["interned_callsites_after"]} if "interned_callsites_after" in f else {}),
    )
