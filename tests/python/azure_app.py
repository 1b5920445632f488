"""A FastAPI chat service instrumented exactly as the Azure docs say: configure_azure_monitor(),
configured only through APPLICATIONINSIGHTS_CONNECTION_STRING (set by the test). Its POST /chat
calls Azure OpenAI through the official openai SDK; the "Azure OpenAI" here is a local stand-in
that answers 429 three times, then 200. GET /fail raises. Prints the trace ids as JSON.

usage: azure_app.py   (environment: APPLICATIONINSIGHTS_CONNECTION_STRING, OTEL_SERVICE_NAME)
"""

import json
import logging
import time
import urllib.error
import urllib.request

from azure.monitor.opentelemetry import configure_azure_monitor
from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
import openai_stand_in
from serving import serve

configure_azure_monitor(logger_name="chat")
HTTPXClientInstrumentor().instrument()
OpenAIInstrumentor().instrument()

from openai import AzureOpenAI  # noqa: E402  (instrumented above)

log = logging.getLogger("chat")
log.setLevel(logging.INFO)
answers = metrics.get_meter("chat").create_counter("chat.answers", unit="1")

openai_server, openai_port, attempts = openai_stand_in.start()
client = AzureOpenAI(
    azure_endpoint=f"http://127.0.0.1:{openai_port}",
    api_key="not-a-real-key",
    api_version="2024-10-21",
    max_retries=3,
)

app = FastAPI()


@app.post("/chat")
async def chat():
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hi"}]
    )
    log.info("answered chat")
    answers.add(1, {"model": "gpt-4o"})
    trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
    return {"trace_id": trace_id, "answer": completion.choices[0].message.content}


@app.get("/fail")
async def fail():
    raise RuntimeError("vector index unavailable")


app_server, app_port = serve(app)
chat_request = urllib.request.Request(f"http://127.0.0.1:{app_port}/chat", method="POST")
with urllib.request.urlopen(chat_request) as response:
    chat_trace = json.load(response)["trace_id"]
# urllib is instrumented by the distro: the failing call joins the driver's own trace.
with trace.get_tracer("driver").start_as_current_span("drive /fail") as driver:
    fail_trace = format(driver.get_span_context().trace_id, "032x")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{app_port}/fail")
    except urllib.error.HTTPError as error:
        assert error.code == 500, error.code

app_server.should_exit = True
openai_server.should_exit = True
time.sleep(0.2)
ok = trace.get_tracer_provider().force_flush(10_000)
ok = get_logger_provider().force_flush(10_000) and ok
ok = metrics.get_meter_provider().force_flush(10_000) and ok
print(json.dumps({
    "chat_trace_id": chat_trace,
    "fail_trace_id": fail_trace,
    "attempts": attempts["count"],
    "flushed": bool(ok),
}))
