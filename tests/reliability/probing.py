"""Running the reliability probes (probes/probe.py, probes/probe.rb, the Rust
``reliability_probe`` binary) with the installed packages and reading their figures."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Dict, List

from harness import figures
from harness.hung import HungServer  # noqa: F401  (re-exported for the tests)
from harness.packages import _clean_env, binary, python_exe, run

PROBES = Path(__file__).resolve().parent / "probes"

#: Long runs (the 1,000,000-span soak) when set; CI runs bounded versions.
FULL = os.environ.get("TASKER_RELIABILITY_FULL") == "1"


def argv(lang: str, scenario: str) -> List[str]:
    """The command line of ``scenario`` in ``lang`` (python, ruby or rust)."""
    if lang == "python":
        return [python_exe(), str(PROBES / "probe.py"), scenario]
    if lang == "ruby":
        return ["ruby", str(PROBES / "probe.rb"), scenario]
    return [binary("reliability_probe"), scenario]


def run_probe(lang: str, scenario: str, env: Dict[str, str], timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    """Runs a probe to its end."""
    return run(argv(lang, scenario), env, timeout=timeout, check=check)


def start_probe(lang: str, scenario: str, env: Dict[str, str]) -> subprocess.Popen:
    """Starts a probe with pipes (for scenarios that wait for the test)."""
    return subprocess.Popen(
        argv(lang, scenario),
        env=_clean_env(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tempfile.gettempdir(),
    )


def read_until(proc: subprocess.Popen, word: str, lines: List[str]) -> None:
    """Reads the probe's stdout into ``lines`` until a line equal to ``word``."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == word:
            return
    raise AssertionError(f"probe ended before {word}: {''.join(lines)[-3000:]}\n{proc.stderr.read() if proc.stderr else ''}")


def drain(stream, into: List[str]) -> threading.Thread:
    """Reads ``stream`` into ``into`` on a thread (so a chatty probe never blocks on a full pipe)."""
    t = threading.Thread(target=lambda: into.extend(stream), daemon=True)
    t.start()
    return t


def last_figures(text: str) -> Dict:
    found = figures.parse(text)
    assert found, f"no FIGURES in:\n{text[-3000:]}"
    return found[-1]


def endpoint(collector_or_port, protocol: str) -> str:
    """The endpoint of ``protocol`` on a collector (or its two ports ``(grpc, http)``)."""
    grpc, http = (collector_or_port.grpc_port, collector_or_port.http_port) if hasattr(collector_or_port, "grpc_port") else collector_or_port
    return f"http://127.0.0.1:{grpc if protocol == 'grpc' else http}"
