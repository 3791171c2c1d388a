#!/usr/bin/env bash
# Builds and tests the Python package (python/, native module from bindings/python/) on a fresh
# Debian machine: installs the test tools into .venv, installs the package from source with
# `pip install ./python`, builds the abi3 wheel with maturin and installs that, then runs pytest
# against the installed copy (never the source tree), with CPython 3.11 and then with pyenv's
# 3.10, 3.12 and 3.13 when present. Ends with "python: N passed, N failed" (3.11's count; a
# failure on any version fails the script, each version prints its own line).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --python
PY="$VENV/bin/python"
WHEELS="$PWD/target/python-wheels"

say "Python test tools (maturin, pytest, opentelemetry-sdk)"
"$PY" -m pip install -q -r python/requirements-test.txt

say "pip install ./python (from source)"
"$PY" -m pip install -q --force-reinstall --no-deps ./python
(cd /tmp && "$PY" -c 'from tasker_core import tracing; tracing.info("installed from source")' 2>/dev/null)

say "abi3 wheel as released (maturin build --release): ships no test hooks"
rm -rf "$WHEELS"
(cd python && "$VENV/bin/maturin" build --release --quiet -o "$WHEELS/release")
"$PY" -m pip install -q --force-reinstall --no-deps "$WHEELS"/release/tasker_core_tracing-*-abi3-*.whl
(cd /tmp && "$PY" -c 'from tasker_core import _native, tracing
assert not hasattr(_native, "_noop"), "test hooks shipped in the release wheel"
with tracing.span("release_wheel") as s: assert s.trace_id
print("release wheel ok (no test hooks)")')

say "abi3 wheel with the test hooks (maturin build --release --features testing)"
(cd python && "$VENV/bin/maturin" build --release --quiet --features testing -o "$WHEELS")
wheel="$(ls "$WHEELS"/tasker_core_tracing-*-abi3-*.whl)"
echo "built $wheel"
"$PY" -m pip install -q --force-reinstall --no-deps "$wheel"

say "pytest (against the installed wheel)"
log="$PWD/target/python-pytest.log"
set +e
(cd python/tests && TASKER_TEST_INSTALLED=1 ROTEL_AGENT="$ROTEL_AGENT" \
  "$PY" -m pytest -p no:cacheprovider -q -rfE . 2>&1) | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# The same abi3 wheel on the other CPython versions of this machine (pyenv's 3.10, 3.12, 3.13;
# 3.10 is the wheel's floor): a venv each under target/pyvenvs.
others=()
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
for v in 3.10 3.12 3.13; do
  base="$(ls -d "$pyenv_root"/versions/"$v".* 2>/dev/null | sort -V | tail -n1 || true)"
  if [ -z "$base" ] || [ ! -x "$base/bin/python3" ]; then
    others+=("python $v: not installed (no $pyenv_root/versions/$v.*), not tested")
    continue
  fi
  say "pytest on CPython $(basename "$base") (the same wheel)"
  venv="$PWD/target/pyvenvs/$v"
  [ -x "$venv/bin/python" ] || "$base/bin/python3" -m venv "$venv"
  "$venv/bin/python" -m pip install -q -r python/requirements-test.txt
  "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
  vlog="$PWD/target/python-$v-pytest.log"
  set +e
  (cd python/tests && TASKER_TEST_INSTALLED=1 ROTEL_AGENT="$ROTEL_AGENT" \
    "$venv/bin/python" -m pytest -p no:cacheprovider -q -rfE . 2>&1) | tee "$vlog"
  vrc=${PIPESTATUS[0]}
  set -e
  others+=("$(pytest_summary "python $v" "$vlog" "$vrc" || true)")
  [ "$vrc" -eq 0 ] || rc=$vrc
done
printf '%s\n' "${others[@]}"
pytest_summary python "$log" "$rc"
