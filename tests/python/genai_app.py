"""The official openai SDK (3.x, whose HTTP client is httpx2) instrumented by one of three GenAI
instrumentations, with HTTPX2ClientInstrumentor for the HTTP attempts underneath, exporting
OTLP/HTTP protobuf to tracehouse. The "Azure OpenAI" is a local stand-in that answers 429 three
times, then 200; the SDK retries by itself. One chat completion runs inside a server span
`POST /chat`. Prints the trace id and the stand-in's attempt count as JSON.

The call belongs to session `session-<flavor>` of user `alice`: OpenInference names them with
its own `using_session`/`using_user` on its LLM span; for the others the app sets `session.id`
and `user.id` on the server span, as applications usually do.

usage: genai_app.py {openinference|openllmetry|openai-v2} ENDPOINT INSTRUMENTATION_KEY
"""

import contextlib

import json
import os
import sys

import openai_stand_in
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

flavor, endpoint, key = sys.argv[1], sys.argv[2], sys.argv[3]
# openai-v2 records prompts and completions on the span only when asked to, in the latest
# GenAI conventions; OpenInference and OpenLLMetry record them by default.
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
provider = TracerProvider(resource=Resource.create({"service.name": f"genai-{flavor}"}))
provider.add_span_processor(
    BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers={"x-instrumentation-key": key})
    )
)
trace.set_tracer_provider(provider)

if flavor == "openinference":
    from openinference.instrumentation.openai import OpenAIInstrumentor
elif flavor == "openllmetry":
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
elif flavor == "openai-v2":
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
else:
    sys.exit(f"unknown instrumentation {flavor!r}")
OpenAIInstrumentor().instrument(tracer_provider=provider)
HTTPX2ClientInstrumentor().instrument(tracer_provider=provider)

from openai import AzureOpenAI  # noqa: E402  (instrumented above)

# One endpoint for every run when the test names its port: the calls then share a deployment.
server, port, attempts = openai_stand_in.start(int(os.environ.get("STAND_IN_PORT", "0")))
client = AzureOpenAI(
    azure_endpoint=f"http://127.0.0.1:{port}",
    api_key="not-a-real-key",
    api_version="2024-10-21",
    max_retries=3,
)
tracer = trace.get_tracer("chat")
with tracer.start_as_current_span("POST /chat", kind=trace.SpanKind.SERVER) as root:
    root.set_attribute("http.request.method", "POST")
    root.set_attribute("http.route", "/chat")
    root.set_attribute("http.response.status_code", 200)
    session = contextlib.ExitStack()
    if flavor == "openinference":
        from openinference.instrumentation import using_session, using_user

        session.enter_context(using_session(f"session-{flavor}"))
        session.enter_context(using_user("alice"))
    else:
        root.set_attribute("session.id", f"session-{flavor}")
        root.set_attribute("user.id", "alice")
    with session:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi"}]
        )
    trace_id = format(root.get_span_context().trace_id, "032x")

server.should_exit = True
flushed = provider.force_flush(10_000)
print(json.dumps({
    "trace_id": trace_id,
    "attempts": attempts["count"],
    "arrivals_ns": attempts["arrivals_ns"],
    "flushed": bool(flushed),
}))
