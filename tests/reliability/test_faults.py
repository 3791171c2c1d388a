"""Faults from Ruby and Python (the Rust side: core/tests/faults.rs), at a real collector:

- the collector is down (nothing listens): recording costs what it costs with the collector up,
  memory stays bounded, drops are counted (received + dropped == sent, exactly) and reported by
  one warning per interval; the collector comes back on the same port and export resumes;
- the collector hangs (accepts, never answers): exports give up after the configured timeout,
  flush returns on time naming what was not delivered, exit is held at most the shutdown
  timeout;
- exit paths: normal end, exit, an uncaught exception, SIGTERM: every span arrives;
- fork: a parent that exported forks 4 children; every process keeps exporting; counts match.
"""

from __future__ import annotations

import signal
import time
from typing import List

import pytest

from harness import figures
from harness.collector import Collector, free_port
from harness.packages import lines_with_prefix
from probing import FULL, HungServer, drain, endpoint, last_figures, read_until, run_probe, start_probe

LANGS = ["python", "ruby"]
PROTOCOLS = ["http/protobuf", "grpc"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("lang", LANGS)
def test_collector_down_then_back(lang: str, protocol: str) -> None:
    queue, n_down, n_up, chunk = 1000, (100_000 if FULL else 20_000), 3000, 500
    ports = (free_port(), free_port())
    proc = start_probe(
        lang,
        "down_up",
        {
            "ENDPOINT": endpoint(ports, protocol),
            "PROTOCOL": protocol,
            "SERVICE": f"{lang}-down-up",
            "QUEUE": str(queue),
            "N_DOWN": str(n_down),
            "N_UP": str(n_up),
            "CHUNK": str(chunk),
        },
    )
    out: List[str] = []
    err: List[str] = []
    drain(proc.stderr, err)
    collector = None
    try:
        read_until(proc, "DOWN_DONE", out)
        down_seconds = time.monotonic()
        collector = Collector(grpc_port=ports[0], http_port=ports[1])
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out.extend(proc.stdout)
        assert proc.wait(120) == 0, "".join(out + err)[-4000:]
        f = last_figures("".join(out))
        stats, down = f["stats"], f["down_stats"]
        assert stats["spans_ended"] == f["sent"] and stats["spans_pending"] == 0, f
        expected = stats["spans_ended"] - stats["spans_dropped"]
        received = collector.wait_for_span_count(expected, timeout=60)
        assert received == expected == stats["spans_exported"], f"received {received}, figures {f}"
        up = [s for s in collector.spans() if s.name == "up"]
        assert len(up) == n_up, "every span recorded after the collector came back arrived"
        assert down["spans_dropped"] > 0 and down["metrics_dropped"] > 0, down
    finally:
        if proc.poll() is None:
            proc.kill()
        if collector is not None:
            collector.stop()
    stderr = "".join(err)
    warnings = stderr.count("telemetry dropped since the last report")
    assert warnings >= 1, stderr[-3000:]
    assert warnings <= 4 + f["first_failure_after_s"] / 0.5 + 60, "one warning per interval at most"
    assert '"target":"opentelemetry' not in stderr, "the SDK's per-request errors stay off the console"
    growth = f["rss_kib_after_down"] - f["rss_kib_before"]
    assert growth < 48 * 1024, f"memory grew {growth} KiB while the collector was down"
    ratio = f["ns_per_span_down"] / f["ns_per_span_up"]
    assert ratio < 2.5, f"recording while down costs {ratio:.2f}x what it costs while up"
    figures.record(
        f"collector_down_then_up_{lang}_{'grpc' if protocol == 'grpc' else 'http'}",
        lang=lang,
        load=f"500 + {n_down} spans with events while down, {n_up} after; queue {queue}",
        faults="collector down, then started on the same port",
        bad_inputs="-",
        lost=f"{stats['spans_dropped']} spans dropped and counted (received + dropped == sent); 0 of the {n_up} sent after the return",
        sent=f["sent"],
        received=received,
        dropped=stats["spans_dropped"],
        dropped_while_down=down["spans_dropped"],
        log_records_dropped=stats["logs_dropped"],
        ns_per_span_down=f["ns_per_span_down"],
        ns_per_span_up=f["ns_per_span_up"],
        rss_kib_before=f["rss_kib_before"],
        rss_kib_after_down=f["rss_kib_after_down"],
        warnings=warnings,
        resumed_after_s=f["resumed_after_s"],
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("lang", LANGS)
def test_hung_collector(lang: str, protocol: str) -> None:
    server = HungServer()
    try:
        proc = run_probe(lang, "hung", {"ENDPOINT": server.endpoint, "PROTOCOL": protocol, "SERVICE": f"{lang}-hung"}, timeout=60)
        exited = time.time() * 1000
    finally:
        server.close()
    f = last_figures(proc.stdout)
    exit_ms = exited - int(lines_with_prefix(proc.stdout, "EXIT_AT ")[0])
    assert f["short_flush_s"] < 1.0, f
    assert "did not finish within 200ms" in f["short_error"] and "10 spans not delivered yet" in f["short_error"], f
    assert server.endpoint in f["short_error"], f
    assert f["export_gave_up_s"] < 3.0, f
    assert f["long_flush_s"] < 3.0 and "10 spans lost in failed export requests" in f["long_error"], f
    assert exit_ms < 1000 + 3000, f"exit took {exit_ms:.0f} ms with a 1 s shutdown timeout"
    assert "10 spans" in proc.stderr and ("not delivered yet" in proc.stderr or "lost in failed export" in proc.stderr), proc.stderr
    figures.record(
        f"collector_hung_{lang}_{'grpc' if protocol == 'grpc' else 'http'}",
        lang=lang,
        load="3 x 10 spans",
        faults="collector accepts and never answers; export timeout 500 ms, shutdown timeout 1 s",
        bad_inputs="-",
        lost="30 (all; every flush and the exit hook name them)",
        flush_200ms_returned_after_s=f["short_flush_s"],
        export_gave_up_after_s=f["export_gave_up_s"],
        flush_5s_returned_after_s=f["long_flush_s"],
        exit_ms=round(exit_ms),
        exit_message=proc.stderr.strip().splitlines()[-1][:300],
    )


EXIT_CODES = {
    ("python", "normal"): 0,
    ("python", "exit"): 3,
    ("python", "raise"): 1,
    ("python", "sigterm"): 128 + signal.SIGTERM,
    ("ruby", "normal"): 0,
    ("ruby", "exit"): 3,
    ("ruby", "raise"): 1,
    ("ruby", "sigterm"): -signal.SIGTERM,
}


@pytest.mark.parametrize("mode", ["normal", "exit", "raise", "sigterm"])
@pytest.mark.parametrize("lang", LANGS)
def test_every_exit_path_delivers_every_span(collector: Collector, lang: str, mode: str) -> None:
    n = 500
    env = {"ENDPOINT": collector.http_endpoint, "SERVICE": f"{lang}-exit-{mode}", "N": str(n), "EXIT_MODE": mode}
    if mode == "sigterm":
        proc = start_probe(lang, "exit", env)
        out: List[str] = []
        read_until(proc, "READY", out)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        stderr = proc.stderr.read() if proc.stderr else ""
    else:
        done = run_probe(lang, "exit", env, check=False, timeout=60)
        code, stderr = done.returncode, done.stderr
    assert code == EXIT_CODES[(lang, mode)], stderr[-2000:]
    received = collector.wait_for_span_count(n, timeout=30)
    assert received == n
    figures.record(
        f"exit_{mode}_{lang}",
        lang=lang,
        load=f"{n} spans with events, none exported before the end",
        faults={"normal": "script ends", "exit": "exit(3)", "raise": "uncaught exception", "sigterm": "SIGTERM"}[mode]
        + (" (with the documented handler)" if (lang, mode) == ("python", "sigterm") else ""),
        bad_inputs="-",
        lost=n - received,
        exit_code=code,
    )


@pytest.mark.parametrize("lang", LANGS)
def test_forked_children_and_parent_keep_exporting(collector: Collector, lang: str) -> None:
    n = 500
    proc = run_probe(lang, "fork", {"ENDPOINT": collector.http_endpoint, "SERVICE": f"{lang}-fork", "N": str(n)}, timeout=120)
    f = last_figures(proc.stdout)
    assert f["children_exit_codes"] == [0, 0, 0, 0], f
    expected = n * 6 + 4  # before, 4 children, after; 4 spans between the forks
    assert collector.wait_for_span_count(expected, timeout=60) == expected
    spans = collector.spans()
    by_name = {}
    for s in spans:
        by_name[s.name] = by_name.get(s.name, 0) + 1
    assert by_name == {
        "parent_before": n,
        **{f"child_{c}": n for c in range(4)},
        "parent_between": 4,
        "parent_after": n,
    }, by_name
    assert len({s.span_id for s in spans}) == len(spans), "span ids unique across the processes"
    figures.record(
        f"fork_{lang}",
        lang=lang,
        load=f"parent {n} spans, 4 forked children x {n} spans with events, parent {n + 4} more",
        faults="fork after export (exporter threads do not survive fork)",
        bad_inputs="-",
        lost=expected - len(spans),
        sent=expected,
        received=len(spans),
    )
