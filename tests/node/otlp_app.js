// An Express service with the OpenTelemetry Node SDK and its auto-instrumentations, configured
// only through the standard environment (OTEL_EXPORTER_OTLP_PROTOCOL, _ENDPOINT, _HEADERS,
// OTEL_SERVICE_NAME), exporting traces, logs (pino) and metrics over OTLP to tracehouse.
// GET /orders/:id calls GET /inventory/:id on itself over http, logs a line and counts the
// order; GET /fail throws. A driver calls both with tracing suppressed (so the service's own
// requests are the roots), then shuts the SDK down, which flushes, and prints the trace ids.
"use strict";

const { NodeSDK } = require("@opentelemetry/sdk-node");
const { getNodeAutoInstrumentations } = require("@opentelemetry/auto-instrumentations-node");

const sdk = new NodeSDK({
  instrumentations: [
    getNodeAutoInstrumentations({
      "@opentelemetry/instrumentation-fs": { enabled: false },
      "@opentelemetry/instrumentation-dns": { enabled: false },
      "@opentelemetry/instrumentation-net": { enabled: false },
    }),
  ],
});
sdk.start();

// Required after sdk.start(), so the instrumentations are in place.
const http = require("node:http");
const express = require("express");
const pino = require("pino");
const { context, metrics, trace } = require("@opentelemetry/api");
const { suppressTracing } = require("@opentelemetry/core");

const log = pino({ level: "info" }, pino.destination(2));
const orders = metrics.getMeter("shop").createCounter("orders.looked_up");

function get(port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path }, (response) => {
        let body = "";
        response.on("data", (chunk) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode, body }));
      })
      .on("error", reject);
  });
}

const app = express();
let port = 0;
app.get("/inventory/:id", (request, response) => {
  response.json({ id: request.params.id, stock: 3 });
});
app.get("/orders/:id", async (request, response) => {
  const inventory = await get(port, `/inventory/${request.params.id}`);
  log.info({ order: request.params.id }, "order looked up");
  orders.add(1, { shop: "main" });
  response.json({
    trace_id: trace.getActiveSpan().spanContext().traceId,
    inventory: inventory.status,
  });
});
app.get("/fail", (request, response) => {
  response.setHeader("x-trace-id", trace.getActiveSpan().spanContext().traceId);
  throw new TypeError("order store is undefined");
});

async function main() {
  const server = await new Promise((resolve) => {
    const listening = app.listen(0, "127.0.0.1", () => resolve(listening));
  });
  port = server.address().port;
  const untraced = (path) => context.with(suppressTracing(context.active()), () => get(port, path));
  const order = await untraced("/orders/42");
  const failed = await untraced("/fail");
  server.close();
  await sdk.shutdown();
  console.log(
    JSON.stringify({
      order_status: order.status,
      order_trace_id: JSON.parse(order.body).trace_id,
      fail_status: failed.status,
    })
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
