"""The official W3C trace-context test suite (``trace-context/``, vendored from the public
w3c/trace-context repository) against ``service.py``, a service on the public API of the
installed Python package, at spec level 2 and strict level 2. Every test of the suite must
pass; the counts are printed (``W3C trace-context: N passed, N failed, N skipped``).

Also runnable alone, e.g. against another installed package::

    python tests/w3c/test_trace_context.py [SERVICE_PYTHON]
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "trace-context"
SERVICE = HERE / "service.py"

sys.path.insert(0, str(HERE.parent))

OUTCOME_RE = re.compile(r"\.\.\. (ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)\s*$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(python: str, env: Dict[str, str]) -> Tuple[subprocess.Popen, int]:
    """Starts ``service.py`` under ``python``; waits for its ``LISTENING <port>`` line."""
    proc = subprocess.Popen(
        [python, str(SERVICE)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("LISTENING "):
                return proc, int(line.split()[1])
            if not line and proc.poll() is not None:
                break
    proc.kill()
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"the test service did not start (exit {proc.returncode}):\n{err}")


def outcomes(output: str) -> Dict[str, str]:
    """``{test name: ok|FAIL|ERROR|skipped}`` from unittest's verbose output."""
    found: Dict[str, str] = {}
    pending: Optional[str] = None
    for line in output.splitlines():
        head = re.match(r"^(test_\w+) \(([\w.]+)\)", line)
        if head:
            name, qual = head.group(1), head.group(2)
            if qual.endswith(f".{name}"):  # Python >= 3.11 names the method too
                qual = qual[: -len(name) - 1]
            pending = f"{qual.split('.')[-1]}.{name}"
        if pending:
            tail = OUTCOME_RE.search(line)
            if tail:
                found[pending] = tail.group(1).split()[0]
                pending = None
    return found


def run_suite(service_python: str, service_env: Dict[str, str], timeout: float = 600) -> Tuple[int, str, Dict[str, str]]:
    """Runs the harness against a fresh service; (exit code, output, outcomes)."""
    proc, port = start_service(service_python, service_env)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TASKER_", "HARNESS_"))}
        env.update(
            SERVICE_ENDPOINT=f"http://127.0.0.1:{port}/test",
            HARNESS_HOST="127.0.0.1",
            HARNESS_PORT=str(free_port()),
            SPEC_LEVEL="2",
            STRICT_LEVEL="2",
            PYTHONDONTWRITEBYTECODE="1",
        )
        run = subprocess.run(
            [sys.executable, "test.py", env["SERVICE_ENDPOINT"]],
            cwd=str(HARNESS),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    output = run.stdout + run.stderr
    return run.returncode, output, outcomes(output)


def summary(found: Dict[str, str]) -> str:
    passed = sum(1 for o in found.values() if o == "ok")
    skipped = sum(1 for o in found.values() if o == "skipped")
    failed = len(found) - passed - skipped
    return f"W3C trace-context: {passed} passed, {failed} failed, {skipped} skipped"


def test_w3c_trace_context_suite_level_2_strict() -> None:
    try:
        import aiohttp  # noqa: F401  (the harness's only dependency)
    except ImportError as err:  # installed by scripts/setup.sh from scripts/requirements-test.txt
        raise AssertionError(f"the W3C harness needs aiohttp ({err}): pip install -r scripts/requirements-test.txt")
    from harness.packages import _clean_env, python_exe

    rc, output, found = run_suite(python_exe(), _clean_env())
    print(summary(found))
    failed = sorted(name for name, o in found.items() if o not in ("ok", "skipped"))
    assert rc == 0 and not failed, f"{summary(found)}; failed: {failed}\n{output}"
    ran = re.search(r"^Ran (\d+) tests?", output, re.M)
    assert ran and int(ran.group(1)) == len(found), output
    assert not any(o == "skipped" for o in found.values()), f"SPEC_LEVEL/STRICT_LEVEL 2 skip nothing:\n{output}"
    assert len(found) >= 41, output


if __name__ == "__main__":
    python = sys.argv[1] if len(sys.argv) > 1 else sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TASKER_"))}
    rc, output, found = run_suite(python, env)
    if os.environ.get("W3C_VERBOSE"):
        print(output)
    for name, o in sorted(found.items()):
        if o != "ok":
            print(f"{o}: {name}")
    print(summary(found))
    sys.exit(0 if rc == 0 else 1)
