// A Node.js chat service instrumented as the Azure docs say: useAzureMonitor(), configured only
// through APPLICATIONINSIGHTS_CONNECTION_STRING (set by the test; its http:// endpoint is
// rewritten to https:// by the distro, so tracehouse serves TLS and NODE_EXTRA_CA_CERTS trusts
// its certificate). POST /chat calls a local "Azure OpenAI" stand-in that answers 429 twice,
// then 200, retrying like an SDK. Prints the trace id and the distro's version as JSON.
"use strict";

const { useAzureMonitor, shutdownAzureMonitor } = require("@azure/monitor-opentelemetry");

useAzureMonitor({
  azureMonitorExporterOptions: {
    connectionString: process.env.APPLICATIONINSIGHTS_CONNECTION_STRING,
  },
  samplingRatio: 1,
  enableLiveMetrics: false,
});

// Required after useAzureMonitor(), so the http instrumentation is in place.
const http = require("node:http");
const { trace } = require("@opentelemetry/api");
const { logs, SeverityNumber } = require("@opentelemetry/api-logs");

const log = logs.getLogger("chat");

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function call(port, method, path) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, method, path }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode));
    });
    request.on("error", reject);
    request.end();
  });
}

async function main() {
  let attempts = 0;
  const openai = await listen((request, response) => {
    attempts += 1;
    response.writeHead(attempts <= 2 ? 429 : 200, { "content-type": "application/json" });
    response.end("{}");
  });
  const openaiPort = openai.address().port;
  let traceId = "";
  const app = await listen(async (request, response) => {
    traceId = trace.getActiveSpan().spanContext().traceId;
    let status = 0;
    for (let attempt = 0; attempt < 4 && status !== 200; attempt += 1) {
      status = await call(openaiPort, "POST", "/openai/deployments/gpt-4o/chat/completions");
    }
    log.emit({ body: "answered chat", severityNumber: SeverityNumber.INFO });
    response.writeHead(200);
    response.end("ok");
  });
  const status = await call(app.address().port, "POST", "/chat");
  app.close();
  openai.close();
  await shutdownAzureMonitor();
  const version = require("@azure/monitor-opentelemetry/package.json").version;
  console.log(JSON.stringify({ status, attempts, trace_id: traceId, version }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
