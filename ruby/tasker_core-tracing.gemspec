# frozen_string_literal: true

require_relative "lib/tasker_core/tracing/version"

# Two flavours from one spec (see script/build-gem):
# - the source gem (default): compiles the Rust extension at install time (needs cargo);
# - the platform gem (TASKER_GEM_PLATFORM=native): carries the compiled extension for this
#   platform (x86_64-linux) and needs no Rust toolchain.
native = ENV["TASKER_GEM_PLATFORM"] == "native"

Gem::Specification.new do |s|
  s.name = "tasker_core-tracing"
  s.version = TaskerCore::Tracing::VERSION
  s.summary = "Tracing, logging, correlation and metrics for Tasker step handlers, through the tasker-telemetry Rust core"
  s.description = "Ruby step handlers record spans, structured logs and metrics through the same Rust core " \
                  "as the Tasker orchestrator, so a step is one trace with one correlation id in any OTLP backend."
  s.authors = ["Tasker maintainers"]
  s.license = "MIT"
  s.required_ruby_version = ">= 3.1"
  s.require_paths = ["lib"]
  s.files = Dir["lib/**/*.rb", "README.md"]
  if native
    s.platform = Gem::Platform.local
    s.files += Dir["lib/tasker_core/*.so"]
  else
    s.extensions = ["ext/tasker_core_tracing/extconf.rb"]
    s.files += Dir["ext/tasker_core_tracing/extconf.rb", "ext/tasker_core_tracing/Cargo.{toml,lock}",
                   "ext/tasker_core_tracing/{telemetry-core,bindings}/**/*.{rs,toml}"]
  end
end
