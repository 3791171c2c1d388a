"""The exported resource says it is Python (``telemetry.sdk.language``, ``process.runtime.*``),
``service.name`` follows the OpenTelemetry precedence, and configuration mistakes name the fix."""

from __future__ import annotations

import uuid

from conftest import run_python

RESOURCE_SCRIPT = """
import os, platform, sys
from tasker_core import tracing

tracing.init(otlp_endpoint=os.environ["ENDPOINT"])
with tracing.span("py_resource_probe"):
    pass
print("RUNTIME", sys.implementation.name, platform.python_version(), os.getpid())
"""


def test_the_exported_resource_says_python(collector):
    proc = run_python(
        RESOURCE_SCRIPT,
        env={
            "ENDPOINT": collector.http_endpoint,
            # OTEL_SERVICE_NAME wins over service.name in the attributes.
            "OTEL_SERVICE_NAME": "py-resource",
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes,team=core",
        },
    )
    implementation, version, pid = proc.stdout.split("RUNTIME", 1)[1].split()
    resource = collector.wait_for_spans(["py_resource_probe"])["py_resource_probe"].resource
    assert resource["telemetry.sdk.language"] == "python", resource
    assert resource["process.runtime.name"] == implementation == "cpython", resource
    assert resource["process.runtime.version"] == version, resource
    assert resource["process.pid"] == pid, resource
    assert resource["service.name"] == "py-resource", resource
    assert resource["team"] == "core", resource
    assert resource["telemetry.distro.name"] == "tasker-telemetry", resource
    assert resource["host.name"], resource
    assert resource["process.executable.name"].startswith("python"), resource
    uuid.UUID(resource["service.instance.id"])


def test_a_misspelt_init_override_is_a_config_error_with_a_suggestion():
    proc = run_python(
        """
        from tasker_core import tracing
        try:
            tracing.init(otlp_endpont="http://127.0.0.1:4318")
        except tracing.ConfigError as e:
            print("CONFIG", e)
        """
    )
    assert "CONFIG unknown telemetry config key `otlp_endpont`" in proc.stdout, proc.stdout
    assert "did you mean `otlp_endpoint`?" in proc.stdout, proc.stdout


def test_an_application_config_file_with_its_own_tables_and_tasker_env(tmp_path):
    app = tmp_path / "app"
    (app / "config").mkdir(parents=True)
    (app / "config" / "production.toml").write_text('[database]\nurl = "postgres://x"\n')
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[database]\npool = 5\n[telemetry]\nservice_name = "shop"\n[telemetry.logging]\nformat = "json"\n'
    )
    # The working directory's config/production.toml is an application's: never read, and a
    # TASKER_CONFIG file with its own [database] table starts telemetry from its [telemetry].
    proc = run_python(
        f"""
        import os
        os.chdir({str(app)!r})
        from tasker_core import tracing
        tracing.init(config_path={str(settings)!r})
        tracing.info("started")
        print("OK")
        """,
        env={"TASKER_ENV": "production"},
    )
    assert "OK" in proc.stdout
    assert '"message":"started"' in proc.stderr.replace(" ", ""), proc.stderr
    assert "ERROR" not in proc.stderr, proc.stderr
