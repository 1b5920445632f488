"""A FastAPI service instrumented with the OpenTelemetry SDK, exporting OTLP to tracehouse.

Serves GET /work (calls GET /downstream over httpx, logs a line, bumps a counter) and GET /fail
(raises), drives one request to each with an uninstrumented client, flushes every provider and
prints the trace ids it saw as JSON on stdout.

usage: otlp_app.py {grpc|http} ENDPOINT INSTRUMENTATION_KEY
"""

import json
import logging
import secrets
import sys
import time
import urllib.error
import urllib.request

import httpx
from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from serving import serve

protocol, endpoint, key = sys.argv[1], sys.argv[2], sys.argv[3]
headers = {"x-instrumentation-key": key}
if protocol == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporters = dict(endpoint=endpoint, insecure=True, headers=headers)
    span_exporter = OTLPSpanExporter(**exporters)
    log_exporter = OTLPLogExporter(**exporters)
    metric_exporter = OTLPMetricExporter(**exporters)
else:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    span_exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=headers)
    log_exporter = OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", headers=headers)
    metric_exporter = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", headers=headers)

resource = Resource.create(
    {"service.name": "e2e-api", "service.namespace": "shop", "service.instance.id": "pod-1"}
)
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
trace.set_tracer_provider(tracer_provider)
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
set_logger_provider(logger_provider)
meter_provider = MeterProvider(
    resource=resource,
    metric_readers=[PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)],
)
metrics.set_meter_provider(meter_provider)

log = logging.getLogger("e2e")
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(logger_provider=logger_provider))
work_done = metrics.get_meter("e2e").create_counter("work.done", unit="1")

HTTPXClientInstrumentor().instrument()
app = FastAPI()
port = 0


def current_trace_id():
    return format(trace.get_current_span().get_span_context().trace_id, "032x")


@app.get("/work")
async def work():
    async with httpx.AsyncClient() as client:
        downstream = await client.get(f"http://127.0.0.1:{port}/downstream")
    log.info("working hard")
    work_done.add(1, {"route": "/work"})
    return {"trace_id": current_trace_id(), "downstream": downstream.status_code}


@app.get("/downstream")
async def downstream():
    return {"ok": True}


@app.get("/fail")
async def fail():
    raise RuntimeError("vector index unavailable")


FastAPIInstrumentor.instrument_app(app)

server, port = serve(app)

with urllib.request.urlopen(f"http://127.0.0.1:{port}/work") as response:
    work_trace = json.load(response)["trace_id"]
# The failing call carries its caller's context, as if from an upstream service.
fail_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
fail = urllib.request.Request(
    f"http://127.0.0.1:{port}/fail",
    headers={"traceparent": f"00-{fail_trace}-{caller_span}-01"},
)
try:
    urllib.request.urlopen(fail)
except urllib.error.HTTPError as error:
    assert error.code == 500, error.code

server.should_exit = True
time.sleep(0.2)
ok = tracer_provider.force_flush(10_000)
ok = logger_provider.force_flush(10_000) and ok
ok = meter_provider.force_flush(10_000) and ok
print(json.dumps({
    "work_trace_id": work_trace,
    "fail_trace_id": fail_trace,
    "caller_span_id": caller_span,
    "flushed": bool(ok),
}))
