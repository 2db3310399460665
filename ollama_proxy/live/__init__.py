"""The live view: what every in-flight request is doing now (GET /api/stats/live).

`tracker` holds the in-flight requests the proxy handler registers, `rates` what finished
requests taught about each model, `snapshot` turns both into one JSON-ready dict (pure),
and `feed` broadcasts snapshots as Server-Sent Events while someone subscribes.
"""
