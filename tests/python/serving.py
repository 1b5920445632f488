"""Runs an ASGI app with uvicorn on a free loopback port, in a background thread."""

import socket
import threading
import time

import uvicorn


def serve(asgi_app, port=0):
    """Starts the app (on `port`, or a free one) and returns (server, port) once it accepts
    connections."""
    if not port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi_app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, port
