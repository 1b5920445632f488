"""A local stand-in for Azure OpenAI's chat completions, as the end-to-end apps call it: the
first three attempts are answered 429 (with `retry-after-ms: 200`, so the SDK waits that long
before each retry), then a completion of 15 prompt and 12 completion tokens. Counts the attempts
and records when each arrived, so a test knows how long the caller was throttled."""

import time

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from serving import serve

THROTTLED = 3


def start(port=0):
    """Serves the stand-in; returns (server, port, attempts) where attempts["count"] grows and
    attempts["arrivals_ns"] holds each attempt's arrival (time.time_ns())."""
    attempts = {"count": 0, "arrivals_ns": []}
    app = FastAPI()

    @app.post("/openai/deployments/{deployment}/chat/completions")
    async def completions(deployment: str):
        attempts["count"] += 1
        attempts["arrivals_ns"].append(time.time_ns())
        if attempts["count"] <= THROTTLED:
            return JSONResponse(
                {"error": {"code": "429", "message": "Rate limit is exceeded."}},
                status_code=429,
                headers={"retry-after-ms": "200"},
            )
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "gpt-4o-2024-08-06",
            "choices": [{
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hello!"},
            }],
            "usage": {"prompt_tokens": 15, "completion_tokens": 12, "total_tokens": 27},
        }

    server, port = serve(app, port)
    return server, port, attempts
