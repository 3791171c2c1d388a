"""Figures of the reliability tests (items sent and received, drops, memory samples, timings):
each test calls :func:`record`, which prints one ``FIGURES {json}`` line and appends it to
``$TASKER_FIGURES_FILE`` (default ``target/reliability/figures.jsonl``), from which
``tests/reliability/report.py`` writes ``tests/RELIABILITY.md``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[2]


def figures_file() -> Path:
    """Where figures are appended."""
    return Path(os.environ.get("TASKER_FIGURES_FILE", str(ROOT / "target" / "reliability" / "figures.jsonl")))


def record(test: str, **figures: Any) -> Dict[str, Any]:
    """Prints and stores the figures of ``test``; returns them."""
    entry = {"test": test, **figures}
    line = json.dumps(entry, sort_keys=False, default=str)
    print(f"FIGURES {line}", flush=True)
    path = figures_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(line + "\n")
    return entry


def parse(text: str) -> List[Dict[str, Any]]:
    """The ``FIGURES {json}`` lines of a process's output (anywhere in a line)."""
    out = []
    for line in text.splitlines():
        at = line.find("FIGURES {")
        if at >= 0:
            try:
                out.append(json.loads(line[at + len("FIGURES "):]))
            except ValueError:
                pass
    return out
