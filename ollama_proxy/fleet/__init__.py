"""The fleet: one proxy in front of several Ollama nodes.

Pure state and routing (`spec`, `nodes`, `facts`, `choose`, `union`) apart from the I/O that
feeds them (`poller`). The proxy handler asks `Fleet.route()` for ranked candidates; nothing
here reaches up into the proxy or the meter.
"""
