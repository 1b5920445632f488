"""Fetches a trace from tracehouse's Tempo API as protobuf and decodes it with the official
OpenTelemetry definitions (`opentelemetry-proto`), as a Tempo client would.

Usage: decode_tempo_trace.py URL
Prints one JSON line: the spans with hex ids, kind, times, typed attributes and events.
"""

import base64
import json
import sys
import urllib.request

from opentelemetry.proto.trace.v1.trace_pb2 import TracesData


def typed(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return ["array", [typed(v) for v in value.array_value.values]]
    if kind == "kvlist_value":
        return ["kvlist", {kv.key: typed(kv.value) for kv in value.kvlist_value.values}]
    if kind == "bytes_value":
        return ["bytes", base64.b64encode(value.bytes_value).decode()]
    if kind == "int_value":
        return ["int", str(value.int_value)]
    return [kind.removesuffix("_value"), getattr(value, kind)]


def main():
    request = urllib.request.Request(sys.argv[1], headers={"Accept": "application/protobuf"})
    with urllib.request.urlopen(request, timeout=10) as response:
        data = TracesData.FromString(response.read())
    spans = []
    for resource_spans in data.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append({
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": span.kind,
                    "start": str(span.start_time_unix_nano),
                    "end": str(span.end_time_unix_nano),
                    "attributes": {kv.key: typed(kv.value) for kv in span.attributes},
                    "events": [[e.name, str(e.time_unix_nano)] for e in span.events],
                })
    print(json.dumps({"spans": spans}))


if __name__ == "__main__":
    main()
