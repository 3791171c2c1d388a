"""The cross-language contract (tests/contract/cases.json), Python side: the same table of cases
that the Rust tests and the gem's minitest suite run, through the installed package."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Dict

import pytest

from tasker_core import _events, tracing

from conftest import run_python

CASES: Dict[str, Any] = json.loads((Path(__file__).resolve().parents[2] / "tests/contract/cases.json").read_text())


def test_level_names():
    for name, index in CASES["level_names"]["accepted"].items():
        assert _events.level_index(name) == index, name
    for name in CASES["level_names"]["rejected"]:
        with pytest.raises(tracing.TracingError, match="not a level"):
            _events.level_index(name)


@pytest.mark.parametrize("case", CASES["fields"], ids=lambda c: c["name"])
def test_fields(capture, case):
    capture.run(lambda: tracing.info("contract", v=case["value"]))
    line = [l for l in capture.json_lines() if l["message"] == "contract"][-1]
    assert line["fields"] == case["fields"]


def test_metric_values():
    for value in CASES["metric_values"]["accepted"]:
        tracing.gauge("contract_gauge", value)
    for value in CASES["metric_values"]["rejected"]:
        with pytest.raises(tracing.TracingError, match="contract_gauge"):
            tracing.gauge("contract_gauge", value)


def test_handler_span_attributes(capture):
    case = CASES["handler_span"]

    def work():
        with tracing.handler_span(case["handler"], case["context"]):
            pass

    capture.run(work)
    attributes = capture.span("handler_execution")["attributes"]
    for key, value in case["attributes"].items():
        assert attributes[key] == value, key
    for key in case["absent"]:
        assert key not in attributes


@pytest.mark.parametrize("case", CASES["lifecycle"], ids=lambda c: c["event"])
def test_lifecycle_routes(capture_factory, case):
    capture = capture_factory(("logging.format", "json"), ("logging.level", "trace"))
    capture.run(lambda: tracing.lifecycle(case["event"]))
    line = [l for l in capture.json_lines() if l["message"] == case["event"]][-1]
    assert line["level"] == case["log_level"]


STARTUP_SCRIPT = """
from tasker_core import tracing
print("EXPORTING", tracing.is_exporting())
tracing.error("line-error")
tracing.warning("line-warn")
tracing.info("line-info")
"""


@pytest.mark.parametrize("case", CASES["startup"], ids=lambda c: c["name"])
def test_startup(case):
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v.replace("{tmp}", tmp) for k, v in case["env"].items()}
        proc = run_python(STARTUP_SCRIPT, env=env)
    assert f"EXPORTING {case['exporting']}" in proc.stdout
    err = proc.stderr
    if case["problem"]:
        problem = [l for l in err.splitlines() if case["problem"][0] in l]
        assert len(problem) == 1, err  # one error line
        for part in case["problem"]:
            assert part in problem[0], (part, problem[0])
    else:
        assert "ERROR tasker_telemetry" not in err, err
    for level in case.get("printed", ["error"]):
        assert f"line-{level}" in err, err  # an invalid setting never silences errors
    for level in case.get("not_printed", []):
        assert f"line-{level}" not in err, err
