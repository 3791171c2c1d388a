"""Builds benches/REPORT.md and benches/report.json from one run of scripts/bench.sh: the
criterion samples of the Rust benchmarks, and the JSON written by benches/ruby/bench.rb and
benches/python/bench.py. Standard library only.

    python3 benches/report.py --criterion DIR --ruby FILE --python FILE --md FILE --json FILE [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

# Rust benchmarks in report order: (id, description, baseline id or None).
RUST_ROWS: List[Tuple[str, str, Optional[str]]] = [
    ("floor/otel_sdk_span_3_attributes", "the floor: an OpenTelemetry SDK span alone, 3 attributes, batch processor, discarding exporter (no `tracing`)", None),
    ("floor/fastrace_span_3_properties", "the floor: a dedicated recorder's span (fastrace), 3 properties, discarding reporter", None),
    ("span/rust_no_subscriber", "`tracing` span enter/exit, no subscriber (the floor)", None),
    ("span/rust_json_layer", "span enter/exit, JSON log layer only (writing to /dev/null)", "span/rust_no_subscriber"),
    ("span/rust_otlp_layer", "span enter/exit, OTLP layer only (batch processor, discarding exporter)", "span/rust_no_subscriber"),
    ("span/rust_exported", "span enter/exit, both layers (the production stack)", "span/rust_no_subscriber"),
    ("span/dynamic_exported_3_fields", "dynamic span (the bindings' API), 3 fields, both layers", "span/rust_no_subscriber"),
    ("span/rust_exported_slow_check_off", "`span/rust_exported` with the slow-operation check off (`threshold_ms = 0`)", None),
    ("span/rust_exported_slow_check_on", "`span/rust_exported` with the slow-operation check on (1000 ms, not reached)", "span/rust_exported_slow_check_off"),
    ("span/rust_exported_with_log_line", "a span with one JSON log line in it, the line also copied onto the span (`telemetry.spans.log_events = true`, the default)", None),
    ("span/rust_exported_with_log_line_not_copied", "the same with `telemetry.spans.log_events = false` (the line printed, not copied onto the span)", "span/rust_exported_with_log_line"),
    ("event/rust_below_filter", "`debug!` event below the level filter", None),
    ("event/dynamic_below_filter", "`dynamic::enabled(DEBUG)` (the bindings answer this in their own language)", None),
    ("event/rust_json_line_3_fields", "`info!` with 3 fields, one JSON line written", None),
    ("event/dynamic_json_line_3_fields", "dynamic event with 3 fields, one JSON line written", None),
    ("metric/counter_add", "counter add, 1 label (SDK meter)", None),
    ("metric/histogram_record", "histogram record, 1 label (SDK meter)", None),
    ("metric/record_counter_as_bindings", "`metrics::record` (the bindings' entry: label cleaning, lookup, add)", None),
    ("propagation/inject", "inject W3C headers (traceparent, baggage with the correlation)", None),
    ("propagation/extract", "extract W3C headers into a remote context with its correlation", None),
    ("redaction/map_10_fields", "redaction of a 10-field attribute map (2 secret keys)", None),
    ("handler/direct", "handler: sum of 100 numbers, called directly", None),
    ("handler/framework", "handler through the framework path (remote context, correlation, handler span, 1 log line, 1 counter, 1 histogram)", None),
    ("handler/run_step", "handler through the worker's per-step path, `step::run_step` (execute_step span, step.claimed/executing/completed events)", None),
]

# Per language: which baseline each row is compared with (the ratio column).
RATIO_BASE = {
    "ruby": {
        "noop_method_same_args": "noop_method",
        "ffi_noop": "noop_method",
        "span_exported_3_fields": "@span_floor",
        "otel_bridge_span": "otel_sdk_span",
        "info_json_3_fields": "logger_json",
        "debug_disabled": "noop_method",
        "debug_disabled_block": "noop_method",
        "handler_framework": "handler_direct",
        "handler_run_step": "handler_direct",
    },
    "python": {
        "noop_function_same_args": "noop_function",
        "ffi_noop": "noop_function",
        "span_exported_3_fields": "otel_sdk_span",
        "span_exported_no_fields": "otel_sdk_span",
        "otel_bridge_span": "otel_sdk_span",
        "info_json_3_fields": "logging_json",
        "logging_bridge": "logging_json",
        "debug_disabled": "noop_function",
        "debug_disabled_guarded": "noop_function",
        "handler_framework": "handler_direct",
        "handler_run_step": "handler_direct",
    },
}
NOOP = {"ruby": "noop_method", "python": "noop_function"}
NOOP_ARGS = {"ruby": "noop_method_same_args", "python": "noop_function_same_args"}
NATIVE_LOG = {"ruby": "logger_json", "python": "logging_json"}
# The hot-path idiom that builds no arguments when the level is off.
DISABLED_IDIOM = {
    "ruby": ("debug_disabled_block", "`debug { [msg, fields] }`"),
    "python": ("debug_disabled_guarded", '`if enabled("debug"): debug(...)`'),
}
TITLE = {"rust": "Rust", "ruby": "Ruby", "python": "Python"}
PATHS = {
    "framework": "the issue's path (remote context, handler_span, 1 log line, 1 counter, 1 histogram)",
    "run_step": "`run_step` (the workers' per-step path: execute_step span, 3 lifecycle events)",
}


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(q * (len(ordered) - 1)), len(ordered) - 1)]


def read_criterion(root: str) -> Dict[str, Dict[str, Any]]:
    """Median and p99 over criterion's samples (each sample: time / iterations of one batch)."""
    out: Dict[str, Dict[str, Any]] = {}
    for bench_id, _, _ in RUST_ROWS:
        path = os.path.join(root, bench_id, "new", "sample.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            sample = json.load(f)
        per_iter = [t / i for t, i in zip(sample["times"], sample["iters"])]
        out[bench_id] = {
            "id": bench_id,
            "median_ns": round(percentile(per_iter, 0.5), 1),
            "p99_ns": round(percentile(per_iter, 0.99), 1),
            "samples": len(per_iter),
            "iterations": int(sum(sample["iters"])),
        }
    return out


def run(cmd: List[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine(ruby: Dict[str, Any], python: Dict[str, Any]) -> Dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
            mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    os_name = ""
    try:
        with open("/etc/os-release") as f:
            os_name = next((line.split("=", 1)[1].strip().strip('"') for line in f if line.startswith("PRETTY_NAME")), "")
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory": mem,
        "os": os_name,
        "kernel": platform.release(),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "rustc": run(["rustc", "-V"]),
        "ruby": ruby.get("version", ""),
        "python": python.get("version", ""),
        "opentelemetry_sdk_python": python.get("opentelemetry_sdk", ""),
        "commit": run(["git", "rev-parse", "--short", "HEAD"]),
    }


def fmt_ns(ns: Optional[float]) -> str:
    if ns is None:
        return "–"
    if abs(ns) >= 10_000:
        return f"{ns / 1000:,.1f} µs"
    if abs(ns) >= 1000:
        return f"{ns / 1000:,.2f} µs"
    if abs(ns) >= 10:
        return f"{ns:,.0f} ns"
    return f"{ns:.1f} ns"


def fmt_ratio(r: Optional[float]) -> str:
    if r is None:
        return ""
    return f"{r:.2f}×" if r < 10 else f"{r:,.0f}×"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion", required=True)
    ap.add_argument("--ruby", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--callgrind", help="instruction counts from scripts/callgrind.sh (optional)")
    ap.add_argument("--machine-from", help="re-render: take the machine block from this report.json")
    args = ap.parse_args()

    rust = read_criterion(args.criterion)
    with open(args.ruby) as f:
        ruby = json.load(f)
    with open(args.python) as f:
        python = json.load(f)
    langs = {"ruby": {c["id"]: c for c in ruby["cases"]}, "python": {c["id"]: c for c in python["cases"]}}

    # Instructions per operation (callgrind, all threads): (total - empty run) / n.
    instructions: Dict[str, Dict[str, float]] = {}
    callgrind_tool = None
    callgrind_n = 0
    if args.callgrind and os.path.exists(args.callgrind):
        with open(args.callgrind) as f:
            counted = json.load(f)
        callgrind_tool = counted.get("tool")
        callgrind_n = max((c["n"] for c in counted["cases"]), default=0)
        for c in counted["cases"]:
            instructions.setdefault(c["language"], {})[c["id"]] = (c["total"] - c["empty"]) / c["n"]

    def ins(lang: str, case: str) -> Optional[float]:
        return instructions.get(lang, {}).get(case)

    def med(lang: str, case: str) -> Optional[float]:
        if lang == "rust":
            return rust.get(case, {}).get("median_ns")
        return langs[lang].get(case, {}).get("median_ns")

    # The physical floor of a binding span: two calls into the extension (start, finish) plus the
    # Rust side of the span, measured in the same process.
    floors = {
        lang: 2 * med(lang, "ffi_noop") + med(lang, "rust_span_in_process")
        for lang in ("ruby", "python")
        if med(lang, "ffi_noop") is not None and med(lang, "rust_span_in_process") is not None
    }

    # --- tables --------------------------------------------------------------------------
    tables: Dict[str, List[Dict[str, Any]]] = {"rust": []}
    for bench_id, description, base in RUST_ROWS:
        if bench_id not in rust:
            continue
        r = rust[bench_id]
        ratio = r["median_ns"] / rust[base]["median_ns"] if base and base in rust else None
        tables["rust"].append(
            {**r, "description": description, "ratio": ratio, "baseline": base}
        )
    for lang, data in (("ruby", ruby), ("python", python)):
        rows = []
        for case in data["cases"]:
            base = RATIO_BASE[lang].get(case["id"])
            base_ns = floors.get(lang) if base == "@span_floor" else (med(lang, base) if base else None)
            ratio = case["median_ns"] / base_ns if base_ns else None
            baseline = "2 × ffi_noop + rust_span_in_process" if base == "@span_floor" else base
            rows.append({**case, "ratio": ratio, "baseline": baseline})
        tables[lang] = rows

    handler = []
    for lang, path, direct, framework in (
        ("rust", "framework", "handler/direct", "handler/framework"),
        ("ruby", "framework", "handler_direct", "handler_framework"),
        ("python", "framework", "handler_direct", "handler_framework"),
        ("rust", "run_step", "handler/direct", "handler/run_step"),
        ("ruby", "run_step", "handler_direct", "handler_run_step"),
        ("python", "run_step", "handler_direct", "handler_run_step"),
    ):
        d, fw = med(lang, direct), med(lang, framework)
        if d is None or fw is None:
            continue
        p99 = (rust.get(framework) if lang == "rust" else langs[lang].get(framework, {})).get("p99_ns")
        overhead = fw - d
        handler.append(
            {
                "language": lang,
                "path": path,
                "direct_ns": d,
                "framework_ns": fw,
                "framework_p99_ns": p99,
                "overhead_ns": overhead,
                "pct_of_100us": overhead / 100_000 * 100,
                "pct_of_1ms": overhead / 1_000_000 * 100,
            }
        )

    # --- targets -------------------------------------------------------------------------
    targets = []

    def target(name: str, measured: str, met: Optional[bool], detail: str = "") -> None:
        targets.append({"target": name, "measured": measured, "met": met, "detail": detail})

    ours, theirs = med("python", "span_exported_3_fields"), med("python", "otel_sdk_span")
    if ours and theirs:
        factor = theirs / ours
        target(
            "Python exported span ≥ 10× cheaper than an opentelemetry-sdk span (same process)",
            f"{fmt_ns(ours)} vs {fmt_ns(theirs)}: {factor:.2f}× cheaper",
            factor >= 10,
        )
    for lang in ("ruby", "python"):
        bridge, sdk, own = med(lang, "otel_bridge_span"), med(lang, "otel_sdk_span"), med(lang, "span_exported_3_fields")
        if bridge and sdk:
            own_text = f"; the language's own `span`: {fmt_ns(own)}, {own / sdk:.2f}×" if own else ""
            target(
                f"{TITLE[lang]} OpenTelemetry-API span through the bridge ≤ 0.2× the official SDK's span (same process)",
                f"{fmt_ns(bridge)} vs {fmt_ns(sdk)}: {bridge / sdk:.2f}×{own_text}",
                bridge / sdk <= 0.2,
            )
    for lang in ("ruby", "python"):
        info, native = med(lang, "info_json_3_fields"), med(lang, NATIVE_LOG[lang])
        if info and native:
            target(
                f"{TITLE[lang]} JSON log event ≤ 0.5× the native logger with a JSON formatter",
                f"{fmt_ns(info)} vs {fmt_ns(native)}: {info / native:.2f}×",
                info / native <= 0.5,
            )
    for lang in ("ruby", "python"):
        dis, noop, noop_args = med(lang, "debug_disabled"), med(lang, NOOP[lang]), med(lang, NOOP_ARGS[lang])
        if dis and noop:
            idiom_id, idiom = DISABLED_IDIOM[lang]
            alt = med(lang, idiom_id)
            alt_text = f"; {idiom}: {fmt_ns(alt)}, {alt / noop:.1f}×" if alt is not None else ""
            target(
                f"{TITLE[lang]} disabled-level log call ≤ 3× a no-op method call",
                f"{fmt_ns(dis)} vs {fmt_ns(noop)}: {dis / noop:.1f}× "
                f"(a no-op called with the same message and 3 keywords: {fmt_ns(noop_args)}, "
                f"{dis / noop_args:.2f}×{alt_text})",
                dis / noop <= 3,
            )
    for lang in ("ruby", "python"):
        dis, noop_args = med(lang, "debug_disabled"), med(lang, NOOP_ARGS[lang])
        if dis and noop_args:
            target(
                f"{TITLE[lang]} disabled-level log call ≤ 1.5× a no-op method called with the same arguments",
                f"{fmt_ns(dis)} vs {fmt_ns(noop_args)}: {dis / noop_args:.2f}×",
                dis / noop_args <= 1.5,
            )
    for lang in ("ruby", "python"):
        span, floor = med(lang, "span_exported_3_fields"), floors.get(lang)
        if span and floor:
            target(
                f"{TITLE[lang]} exported span within 3× the physical floor (2 no-op calls into the extension + the Rust-side span)",
                f"{fmt_ns(span)} vs floor {fmt_ns(floor)} (2 × {fmt_ns(med(lang, 'ffi_noop'))} + "
                f"{fmt_ns(med(lang, 'rust_span_in_process'))}): {span / floor:.2f}×",
                span / floor <= 3,
            )
    for h in handler:
        target(
            f"{TITLE[h['language']]} framework overhead per step < 5% of a 100 µs handler (< 5 µs), "
            f"{PATHS[h['path']]}",
            f"{fmt_ns(h['overhead_ns'])} per step: {h['pct_of_100us']:.1f}% of 100 µs, {h['pct_of_1ms']:.2f}% of 1 ms",
            h["pct_of_100us"] < 5,
        )

    # Issue 15's goals ("a span path near the physical floor").
    for lang, limit in (("ruby", 0.1), ("python", 0.05)):
        ours, sdk = med(lang, "span_exported_3_fields"), med(lang, "otel_sdk_span")
        if ours and sdk:
            measured = f"{fmt_ns(ours)} vs {fmt_ns(sdk)}: {ours / sdk:.2f}×"
            met = ours / sdk <= limit
            i_ours, i_sdk = ins(lang, "span_exported_3_fields"), ins(lang, "otel_sdk_span")
            if i_ours and i_sdk:
                measured += f"; instructions {i_ours:,.0f} vs {i_sdk:,.0f}: {i_ours / i_sdk:.2f}×"
                met = met and i_ours / i_sdk <= limit
            target(
                f"{TITLE[lang]} exported span ≤ {limit}× the official OpenTelemetry SDK's span (same process; "
                "time and instructions)",
                measured,
                met,
            )
    foreign = med("rust", "span/dynamic_exported_3_fields")
    if foreign:
        i_foreign = ins("rust", "span_loop")
        target(
            "Rust side of a foreign span (start, enter, exit, end with 3 fields, exported) ≤ 400 ns",
            f"{fmt_ns(foreign)} (`span/dynamic_exported_3_fields`)"
            + (f"; {i_foreign:,.0f} instructions (`span_loop`)" if i_foreign else ""),
            foreign <= 400,
        )
    rust_span = med("rust", "span/rust_exported")
    if rust_span:
        target(
            "a Rust `tracing` span through the production stack ≤ 1 µs",
            f"{fmt_ns(rust_span)} (`span/rust_exported`)",
            rust_span <= 1000,
        )
    for h in handler:
        if h["path"] == "run_step":
            limit_ns = 3000 if h["language"] == "rust" else 5000
            target(
                f"{TITLE[h['language']]} `run_step` per-step overhead ≤ {limit_ns / 1000:.0f} µs",
                f"{fmt_ns(h['overhead_ns'])}",
                h["overhead_ns"] <= limit_ns,
            )

    if args.machine_from:
        with open(args.machine_from) as f:
            info = json.load(f)["machine"]
    else:
        info = machine(ruby, python)
    report = {
        "smoke": args.smoke,
        "machine": info,
        "method": {
            "rust": f"criterion 0.7, {max((r['samples'] for r in rust.values()), default=0)} samples per benchmark "
            "(linear sampling); median and p99 over the samples' time/iterations",
            "ruby": f"{ruby['rounds']} rounds in shuffled order, batches of ~{ruby['batch_ms']} ms, empty-loop cost "
            f"({ruby['loop_overhead_ns']} ns) subtracted; median and p99 over the batches",
            "python": f"{python['rounds']} rounds in shuffled order, batches of ~{python['batch_ms']} ms, empty-loop cost "
            f"({python['loop_overhead_ns']} ns) subtracted; median and p99 over the batches",
        },
        "tables": tables,
        "instructions": {"tool": callgrind_tool, "n": callgrind_n, "per_operation": instructions},
        "handler_overhead": handler,
        "targets": targets,
    }
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(args.md, "w") as f:
        f.write(markdown(report, ruby, python))
    met = sum(1 for t in targets if t["met"])
    sys.stderr.write(f"report: {args.md} ({met} of {len(targets)} targets met)\n")


def markdown(report: Dict[str, Any], ruby: Dict[str, Any], python: Dict[str, Any]) -> str:
    m = report["machine"]
    out: List[str] = []
    w = out.append
    w("# Overhead report: tasker-telemetry from Rust, Ruby and Python\n")
    if report["smoke"]:
        w("> **Smoke run** (a few iterations, to check the harness works): the numbers mean nothing.\n")
    else:
        w(
            f"Produced on this project's development machine by `bash scripts/bench.sh` on {m['date']} "
            f"(commit `{m['commit']}`). Re-run that command to reproduce it on yours; compare ratios "
            "within a language, measured in one run, not absolute times across machines or runs: "
            "this machine is small and shared, so absolute times vary by tens of percent from run to run.\n"
        )
    w("## Machine and versions\n")
    w("| | |\n|---|---|")
    for key, label in (
        ("cpu", "CPU"),
        ("cpus", "CPUs"),
        ("memory", "memory"),
        ("os", "OS"),
        ("kernel", "kernel"),
        ("load_average", "load average at the end"),
        ("rustc", "Rust"),
        ("ruby", "Ruby"),
        ("python", "Python"),
        ("opentelemetry_sdk_python", "opentelemetry-sdk (Python baseline)"),
    ):
        w(f"| {label} | {m.get(key, '')} |")
    w("")
    w("## What runs\n")
    w(
        "Every language measures against the same pipeline (`tasker_telemetry::testing::BenchPipeline`): "
        "the production subscriber stack, JSON console lines written to `/dev/null` (one `write(2)` "
        "per line, as on a real stream), spans through the OpenTelemetry layer and the export "
        "path of OTLP export (queue admission, redaction, the batch span processor with the "
        "configured sizes, export accounting) into an exporter that discards them (so export cost "
        "stops at the batch queue, as with a collector that keeps up), and an SDK meter that "
        "aggregates but never exports. "
        "Ruby and Python run it through their bindings' bench helper (`Native._bench_pipeline`, "
        "`_native._BenchPipeline`); the gem and the wheel are built in release mode from this tree.\n"
    )
    w(
        "Ruby and Python run in their own interpreters, against the installed gem and wheel as "
        "users run them, with a timeit-style harness, rather than embedded in criterion: embedding "
        "would link libruby/libpython into the bench binary and run the calls under a host that "
        "is not `ruby` or `python` (its own GC and thread setup), to measure the same calls. The "
        "Rust-side cost of a binding span is still measured in the same process, by a helper that "
        "loops it in Rust (`rust_span_in_process`).\n"
    )
    w("Method:\n")
    for lang in ("rust", "ruby", "python"):
        w(f"- {TITLE[lang]}: {report['method'][lang]}.")
    w(
        "- Ruby and Python cases are compiled into tight loops and measured round-robin in one "
        "process (every round runs one batch of each case, in a new random order), so the noise of the shared machine "
        "falls on all cases alike (the handler cases run in rounds of their own, after the others and a "
        f"full GC); p99 is the 99th percentile of per-batch means (a batch is "
        f"~{ruby['batch_ms']} ms), so it shows slow periods (GC, the exporter thread, other load), "
        "not single slow calls.\n"
    )
    for lang in ("rust", "ruby", "python"):
        w(f"## {TITLE[lang]}\n")
        w("| operation | median | p99 | ratio | to |\n|---|---:|---:|---:|---|")
        for row in report["tables"][lang]:
            label = row.get("description") or row["id"]
            w(
                f"| `{row['id']}`: {label} | {fmt_ns(row['median_ns'])} | {fmt_ns(row['p99_ns'])} | "
                f"{fmt_ratio(row['ratio'])} | {row['baseline'] or ''} |"
            )
        w("")
    counted = report["instructions"]["per_operation"]
    if counted:
        w("## Instructions per operation (callgrind)\n")
        w(
            f"Counted by {report['instructions']['tool']} (`bash scripts/callgrind.sh`): every thread, the "
            f"exporter's included; each case runs {report['instructions']['n']:,} times in a process of its own "
            "and once with 0, and the difference is divided by the count. At the same count they repeat to "
            "within about 1% however busy the machine is (one-time costs, such as the first span's callsite "
            "and the caches, are spread over the count: compare counts taken with the same one); they are not "
            "times (a cache miss or a contended lock costs far more than an instruction), so both are "
            "reported.\n"
        )
        w("| language | case | instructions per operation | ratio to the official SDK's span | ratio to the no-op with the same arguments |")
        w("|---|---|---:|---:|---:|")
        noop_ids = {"ruby": "noop_method_same_args", "python": "noop_function_same_args"}
        for lang in ("rust", "ruby", "python"):
            cases = counted.get(lang, {})
            sdk, noop = cases.get("otel_sdk_span"), cases.get(noop_ids.get(lang, ""))
            for case_id, n in cases.items():
                to_sdk = f"{n / sdk:.3f}×" if sdk else ""
                to_noop = f"{n / noop:.1f}×" if noop else ""
                w(f"| {TITLE[lang]} | `{case_id}` | {n:,.0f} | {to_sdk} | {to_noop} |")
        w("")
    w("## Handler overhead per step\n")
    w(
        "The same trivial handler (the sum of 100 numbers) called directly, and called through the "
        "full per-step framework path: continue the remote trace from the step's W3C headers, "
        "`handler_span` with the step context (correlation id, task/step UUIDs, namespace), one log "
        "line, one counter, one duration histogram. Overhead = framework − direct (medians).\n"
    )
    w(
        "The workers of the example orchestrator use `run_step` instead (one call: the "
        "`execute_step` span from the message's headers and correlation, and the `step.claimed`, "
        "`step.executing`, `step.completed` lifecycle events, each a span event, a log line and "
        "their counters/histogram); it is measured the same way.\n"
    )
    w("| language | path | direct | through the path (median) | (p99) | overhead per step | % of a 100 µs handler | % of a 1 ms handler |")
    w("|---|---|---:|---:|---:|---:|---:|---:|")
    for h in report["handler_overhead"]:
        w(
            f"| {TITLE[h['language']]} | {h['path']} | {fmt_ns(h['direct_ns'])} | {fmt_ns(h['framework_ns'])} | "
            f"{fmt_ns(h['framework_p99_ns'])} | {fmt_ns(h['overhead_ns'])} | {h['pct_of_100us']:.1f}% | {h['pct_of_1ms']:.2f}% |"
        )
    w("")
    w("## Targets\n")
    w("Ratios from one run (the machine is shared and noisy); a target missed is reported as missed.\n")
    w("| target | measured | met |\n|---|---|---|")
    for t in report["targets"]:
        w(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    w("")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ANALYSIS.md")
    if os.path.exists(notes) and not report["smoke"]:
        with open(notes) as f:
            w(f.read().rstrip() + "\n")
    return "\n".join(out)


if __name__ == "__main__":
    main()
