#!/usr/bin/env bash
# The Ruby gem: build both gems (source and x86_64-linux), install the source gem (its
# extconf.rb compiles the extension with cargo) into target/ruby-gems, run the minitest suite
# against the installed gem with a real rotel-agent collector, then check the platform gem
# installs and loads without compiling. Prints "ruby: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --python

root="$(pwd)"
export CARGO_TARGET_DIR="$root/target"   # the gem's extconf reuses the workspace's build
say "building the gems"
bash ruby/script/build-gem

default_gem_path="$(env -u GEM_HOME -u GEM_PATH gem env gempath)"
install_gem() { # $1 = gem file, $2 = GEM_HOME
  rm -rf "$2"
  GEM_HOME="$2" GEM_PATH="$2:$default_gem_path" gem install --local --no-document "$1" >/dev/null
}

say "installing the source gem (compiles the extension, with the test hooks)"
export TASKER_TRACING_FEATURES=testing
gem_home="$root/target/ruby-gems"
install_gem ruby/pkg/tasker_core-tracing-*[0-9].gem "$gem_home"

say "minitest against the installed gem"
cd "$root/ruby"
set +e
GEM_HOME="$gem_home" GEM_PATH="$gem_home:$default_gem_path" ROTEL_AGENT="$ROTEL_AGENT" \
  ruby -Itest -e 'Dir["test/*_test.rb"].sort.each { |f| require File.expand_path(f) }' 2>&1 | tee "$root/target/ruby-minitest.log"
rc=${PIPESTATUS[0]}
set -e
cd "$root"
summary=$(grep -E '^[0-9]+ runs, ' target/ruby-minitest.log | tail -n1)
[ -n "$summary" ] || { echo "minitest printed no summary" >&2; exit 1; }
runs=$(echo "$summary" | awk '{print $1}')
failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures, .*/\1/')
errors=$(echo "$summary" | sed -E 's/.* ([0-9]+) errors, .*/\1/')
failures=$((failed + errors))
[ "$runs" -gt 0 ] || { echo "minitest ran no test" >&2; exit 1; }

say "the platform gem installs without a compiler and loads"
native_home="$root/target/ruby-gems-native"
install_gem ruby/pkg/tasker_core-tracing-*-x86_64-linux*.gem "$native_home"
GEM_HOME="$native_home" GEM_PATH="$native_home:$default_gem_path" CARGO=/bin/false \
  ruby -rtasker_core/tracing -e 'abort "test hooks shipped" if TaskerCore::Tracing::Native.respond_to?(:noop)' \
  -e 'v = TaskerCore::Tracing.span("platform_gem") { |s| s.trace_id }; abort "no trace id" unless v =~ /\A\h{32}\z/; puts "platform gem ok (no test hooks)"'

echo "ruby: $((runs - failures)) passed, ${failures} failed"
[ "$rc" -eq 0 ] && [ "$failures" -eq 0 ]
