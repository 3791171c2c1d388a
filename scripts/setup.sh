# Sourced by scripts/test.sh and scripts/demo.sh: installs what the project needs on a fresh
# Debian machine (idempotent; fast when everything is there) and exports:
#   VENV         the project's Python virtualenv (.venv)
#   ROTEL_AGENT  the rotel-agent OTLP collector binary used by the tests
# Usage: source scripts/setup.sh [--python]
#   --python: also what the tests need: Ruby headers and minitest, the .venv with rotel

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { printf '\n==> %s\n' "$*"; }

# pytest_summary LABEL LOG RC: prints "LABEL: N passed, N failed" from a pytest log and returns
# non-zero when pytest failed or collected nothing.
pytest_summary() {
  local summary passed failed rc="$3"
  summary="$(tail -n 5 "$2" | grep -E '[0-9]+ (passed|failed|error)' | tail -n1 || true)"
  passed="$({ grep -oE '[0-9]+ passed' <<<"$summary" || true; } | awk '{s+=$1} END {print s+0}')"
  failed="$({ grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" || true; } | awk '{s+=$1} END {print s+0}')"
  if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; rc=1; fi
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "$1: ${passed} passed, ${failed} failed"
  return "$rc"
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; return 1; fi
}

# apt_need PKG...: installs the Debian packages that are not installed yet.
apt_need() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install the Rust toolchain (rustup) first" >&2
  return 1 2>/dev/null || exit 1
fi
command -v cc >/dev/null || apt_need build-essential
for component in clippy rustfmt; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component" >/dev/null 2>&1 || echo "warning: could not add $component" >&2
  fi
done

if [ "${1:-}" = "--python" ]; then
  # Building the whole workspace needs Ruby's headers (rb-sys runs bindgen, hence libclang);
  # the gem's tests use Debian's minitest.
  apt_need ruby ruby-dev ruby-minitest libclang-dev make
  VENV="$ROOT/.venv"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV" 2>/dev/null || { apt_need python3-venv; python3 -m venv "$VENV"; }
  fi
  # (Re)installed whenever scripts/requirements-test.txt changes (a stamp keeps its checksum).
  stamp="$VENV/.requirements-test.sha256"
  want="$(sha256sum "$ROOT/scripts/requirements-test.txt" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$VENV/bin/python" -c 'import rotel' 2>/dev/null; then
    say "installing Python test tools into .venv"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -r "$ROOT/scripts/requirements-test.txt"
    echo "$want" >"$stamp"
  fi
  ROTEL_AGENT="$(ls "$VENV"/lib/python3*/site-packages/rotel/rotel-agent 2>/dev/null | head -n1)"
  [ -x "$ROTEL_AGENT" ] || { echo "rotel-agent missing from the rotel package" >&2; return 1 2>/dev/null || exit 1; }
  export VENV ROTEL_AGENT
fi
