# frozen_string_literal: true

# Builds the native extension with cargo (no rb_sys gem needed): writes a Makefile whose
# default target runs `cargo build --release` on the Rust sources packaged in this folder and
# whose install target puts tasker_core/tasker_core_tracing.so where RubyGems expects it.
# Set CARGO_TARGET_DIR to reuse a build directory; otherwise a private one is used and deleted
# after install (it is large). TASKER_TRACING_FEATURES=testing adds the test and bench hooks
# (the project's test scripts set it; a released gem has none).

require "rbconfig"

ext_dir = File.expand_path(__dir__)
manifest = File.join(ext_dir, "Cargo.toml")
abort "tasker_core-tracing: #{manifest} is missing (build the gem with ruby/script/build-gem)" unless File.file?(manifest)
cargo = ENV.fetch("CARGO", "cargo")
unless system(cargo, "--version", out: File::NULL, err: File::NULL)
  abort "tasker_core-tracing: cargo not found; install the Rust toolchain, or install the prebuilt " \
        "x86_64-linux gem (tasker_core-tracing-*-x86_64-linux.gem) which needs none"
end
own_target = ENV["CARGO_TARGET_DIR"].to_s.empty?
target_dir = own_target ? File.join(Dir.pwd, "cargo-target") : ENV["CARGO_TARGET_DIR"]
dlext = RbConfig::CONFIG["DLEXT"]
built = File.join(target_dir, "release", "libtasker_core_tracing.so")
cleanup = own_target ? "\trm -rf #{target_dir}\n" : ""
features = ENV["TASKER_TRACING_FEATURES"].to_s.strip
features_flag = features.empty? ? "" : " --features #{features}"

# RubyGems points sitearchdir at its staging folder (through a siteconf); mkmf would do the same.
sitearchdir = RbConfig::CONFIG["sitearchdir"]

File.write("Makefile", <<~MAKE)
  sitearchdir ?= #{sitearchdir}
  all:
  \tCARGO_TARGET_DIR=#{target_dir} #{cargo} build --release --manifest-path #{manifest} -p tasker-telemetry-ruby#{features_flag}
  \tcp #{built} tasker_core_tracing.#{dlext}
  install: all
  \tmkdir -p $(DESTDIR)$(sitearchdir)/tasker_core
  \tcp tasker_core_tracing.#{dlext} $(DESTDIR)$(sitearchdir)/tasker_core/
  #{cleanup}clean:
  \trm -f tasker_core_tracing.#{dlext}
MAKE
