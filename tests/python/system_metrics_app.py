"""Exports the Python system-metrics instrumentation's metrics over OTLP/HTTP to tracehouse.

Instruments with SystemMetricsInstrumentor (its default metric set), exports every 300 ms for
about 3 s while burning some CPU, flushes, and prints a JSON summary on stdout.

usage: system_metrics_app.py ENDPOINT INSTRUMENTATION_KEY
"""

import json
import sys
import time

from opentelemetry import metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

endpoint, key = sys.argv[1], sys.argv[2]
exporter = OTLPMetricExporter(
    endpoint=f"{endpoint}/v1/metrics", headers={"x-instrumentation-key": key}
)
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=300)
provider = MeterProvider(
    metric_readers=[reader],
    resource=Resource.create({"service.name": "system-metrics-e2e", "host.name": "e2e-host"}),
)
metrics.set_meter_provider(provider)
SystemMetricsInstrumentor().instrument()

deadline = time.monotonic() + 3.0
spins = 0
while time.monotonic() < deadline:
    # Busy for a while so process.cpu.time grows between exports.
    sum(i * i for i in range(20_000))
    spins += 1
provider.force_flush()
provider.shutdown()
print(json.dumps({"spins": spins}))
