"""The installed gem, the installed Python package and the built binaries, as the cross-language
tests reach them. ``scripts/test-integration.sh`` sets the environment variables read here."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]


def _clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The test's environment without telemetry settings (each run states its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TASKER_", "GEM_"))}
    env.update(ruby_env())
    env.update(extra or {})
    return env


def ruby_env() -> Dict[str, str]:
    """``GEM_HOME``/``GEM_PATH`` under which the gem built from this tree is installed."""
    home = os.environ.get("TASKER_TEST_GEM_HOME", str(ROOT / "target" / "ruby-gems"))
    path = os.environ.get("TASKER_TEST_GEM_PATH", home)
    return {"GEM_HOME": home, "GEM_PATH": path}


def python_exe() -> str:
    """The interpreter with the wheel built from this tree installed."""
    return os.environ.get("TASKER_TEST_PYTHON", sys.executable)


def binary(name: str) -> str:
    """A binary built by ``cargo build`` (``TASKER_TEST_BIN_DIR``, default ``target/debug``)."""
    path = Path(os.environ.get("TASKER_TEST_BIN_DIR", str(ROOT / "target" / "debug"))) / name
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run scripts/test-integration.sh (builds it)")
    return str(path)


def run(
    argv: Sequence[str],
    env: Optional[Dict[str, str]] = None,
    timeout: float = 120,
    check: bool = True,
    stdin: Optional[str] = None,
) -> subprocess.CompletedProcess:
    """Runs ``argv`` with a clean telemetry environment plus ``env``; with ``check``, a non-zero
    exit fails with both output streams in the message."""
    proc = subprocess.run(
        list(argv),
        env=_clean_env(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv[0]} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def run_ruby(code: str, env: Optional[Dict[str, str]] = None, **kw: object) -> subprocess.CompletedProcess:
    """Runs Ruby ``code`` with the installed gem."""
    return run(["ruby", "-e", textwrap.dedent(code)], env, **kw)  # type: ignore[arg-type]


def run_python(code: str, env: Optional[Dict[str, str]] = None, **kw: object) -> subprocess.CompletedProcess:
    """Runs Python ``code`` with the installed package."""
    return run([python_exe(), "-c", textwrap.dedent(code)], env, **kw)  # type: ignore[arg-type]


def lines_with_prefix(text: str, prefix: str) -> List[str]:
    """The lines of ``text`` that start with ``prefix``, without it."""
    return [line[len(prefix):] for line in text.splitlines() if line.startswith(prefix)]
