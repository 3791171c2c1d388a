#!/usr/bin/env bash
# Builds and installs the Ruby gem and the Python package from this tree, as a user would get
# them, for the demo and the cross-language tests (sourced or run after scripts/setup.sh
# --python):
#   the source gem, compiled by its extconf.rb, into target/ruby-gems (GEM_HOME)
#   the abi3 wheel (maturin) into .venv
# Skips the work when the installed copies are newer than every source file (--force rebuilds),
# or when TASKER_PACKAGES_INSTALLED=1 (scripts/test.sh sets it after test-ruby.sh and
# test-python.sh installed both into the same places).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --python
root="$(pwd)"
stamp="$root/target/packages.stamp"
gem_home="$root/target/ruby-gems"
default_gem_path="$(env -u GEM_HOME -u GEM_PATH gem env gempath)"

sources_changed() {
  [ -f "$stamp" ] || return 0
  [ -n "$(find core/src bindings ruby/lib ruby/ext/tasker_core_tracing/extconf.rb python/tasker_core \
           python/pyproject.toml Cargo.toml Cargo.lock -newer "$stamp" -type f -print -quit)" ]
}
installed() {
  GEM_HOME="$gem_home" GEM_PATH="$gem_home:$default_gem_path" ruby -e 'require "tasker_core/tracing"' 2>/dev/null &&
    (cd /tmp && "$VENV/bin/python" -c 'import tasker_core.tracing' 2>/dev/null)
}

if [ "${TASKER_PACKAGES_INSTALLED:-}" = 1 ] && installed; then
  echo "gem and Python package were installed from this tree by this test run"
  exit 0
fi
if [ "${1:-}" != "--force" ] && ! sources_changed && installed; then
  echo "gem and Python package are installed and up to date"
  exit 0
fi

export CARGO_TARGET_DIR="$root/target"
# The cross-language tests and the benches use the test and bench hooks.
export TASKER_TRACING_FEATURES=testing
say "building the gem and installing it into target/ruby-gems (compiles the extension)"
bash ruby/script/build-gem
rm -rf "$gem_home"
GEM_HOME="$gem_home" GEM_PATH="$gem_home:$default_gem_path" \
  gem install --local --no-document ruby/pkg/tasker_core-tracing-*[0-9].gem >/dev/null

say "building the Python wheel and installing it into .venv"
"$VENV/bin/python" -m pip install -q -r python/requirements-test.txt
wheels="$root/target/python-wheels"
rm -rf "$wheels"
(cd python && "$VENV/bin/maturin" build --release --quiet --features testing -o "$wheels")
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$wheels"/tasker_core_tracing-*-cp310-abi3-*.whl
touch "$stamp"
