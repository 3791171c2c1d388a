"""Writes tests/RELIABILITY.md from the figures the reliability tests recorded (one JSON object
per line; the last entry of each test wins):

    python tests/reliability/report.py target/reliability/figures.jsonl tests/RELIABILITY.md --command "..."

Run by scripts/reliability.sh."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
from typing import Any, Dict, List

SECTIONS = [
    ("Faults: collector down, hung, exit", ("collector_", "exit_bounded", "rust_guard_drop", "exit_")),
    ("Fork", ("fork_",)),
    ("Adversarial: hangs and leaks", ("flush_interrupted_", "many_")),
    ("Load and soak", ("threads_", "asyncio_", "soak_")),
    ("Bad input", ("bad_input_", "fuzz")),
    ("Security", ("redaction_", "otlp_headers_")),
]
COLUMNS = ("load", "faults", "bad_inputs", "lost")
SKIP = {"test", "lang", *COLUMNS}


def _version(argv: List[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    except Exception:
        return "?"


def machine() -> str:
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
            mem = f"{kib / 1024 / 1024:.0f} GiB"
    except Exception:
        pass
    return (
        f"{os.cpu_count()} CPUs, {mem} RAM, Linux {platform.release()}; "
        f"{_version(['rustc', '--version'])}; {_version(['ruby', '--version'])}; Python {platform.python_version()}"
    )


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _figures(entry: Dict[str, Any]) -> str:
    parts = []
    for key, value in entry.items():
        if key in SKIP:
            continue
        if isinstance(value, list) and len(value) > 4:
            value = f"{value[0]}, {value[1]}, … {value[-1]} ({len(value)} samples)"
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, str) and len(value) > 160:
            value = value[:157] + "…"
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return _cell("; ".join(parts))


def render(entries: List[Dict[str, Any]], command: str) -> str:
    latest: Dict[str, Dict[str, Any]] = {}
    for e in entries:
        latest[e["test"]] = e
    lines = [
        "# Reliability figures",
        "",
        f"Produced by `{command}` on this project's machine ({machine()}), "
        f"{datetime.date.today().isoformat()}. The tests that produce them run in the test command too "
        "(`bash scripts/test.sh`), with bounded sizes; `bash scripts/reliability.sh --full` re-runs them at full "
        "size and rewrites this file. What each test asserts is in its docstring: "
        "`core/tests/faults.rs`, `core/tests/fuzz.rs`, `python/tests/test_bad_input.py`, "
        "`ruby/test/bad_input_test.rb`, `tests/reliability/`.",
        "",
        "Rows marked *rust (debug build)* come from `cargo test` (unoptimised: its nanoseconds per span are "
        "not the product's; the Ruby and Python rows use the release-built gem and wheel). *lost* counts items "
        "that did not reach the collector; every such item is also counted by the core "
        "(`tasker_telemetry_dropped_total`, `stats()`), none is lost silently.",
    ]
    sent = received = 0
    for e in latest.values():
        if "collector" in str(e.get("faults", "")):
            continue
        s = e.get("sent", e.get("sent_spans"))
        r = e.get("received", e.get("received_spans"))
        if isinstance(s, int) and isinstance(r, int):
            sent, received = sent + s, received + r
    lines += [
        "",
        f"Summary: {len(latest)} tests. Without an injected collector fault (exit paths, fork, load, soak, "
        f"security) {sent:,} spans were sent and {received:,} received ({sent - received:,} lost). With the "
        "collector down or hung, what could not be delivered was dropped at once, counted exactly "
        "(received + dropped = sent) and named by flush, shutdown and the exit hook; export resumed when the "
        "collector came back.",
    ]
    used = set()
    for title, prefixes in SECTIONS:
        rows = [e for name, e in latest.items() if name.startswith(prefixes) and name not in used]
        if not rows:
            continue
        used.update(e["test"] for e in rows)
        lines += ["", f"## {title}", "", "| test | language | load | faults | bad inputs tried | lost items | figures |", "|---|---|---|---|---|---|---|"]
        for e in rows:
            lines.append(
                "| "
                + " | ".join(
                    [_cell(e["test"]), _cell(e.get("lang", "-"))]
                    + [_cell(e.get(c, "-")) for c in COLUMNS]
                    + [_figures(e)]
                )
                + " |"
            )
    rest = [e for name, e in latest.items() if name not in used]
    if rest:
        lines += ["", "## Other", ""] + [f"- `{e['test']}`: {_figures(e)}" for e in rest]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("figures")
    parser.add_argument("out")
    parser.add_argument("--command", default="bash scripts/reliability.sh")
    args = parser.parse_args()
    with open(args.figures) as f:
        entries = [json.loads(l) for l in f if l.strip()]
    with open(args.out, "w") as f:
        f.write(render(entries, args.command))
    print(f"wrote {args.out} ({len(entries)} entries)")


if __name__ == "__main__":
    main()
