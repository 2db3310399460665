"""Alerts: built-in rules over in-memory aggregates, a pending/firing/resolved lifecycle,
silences, and notifiers (webhook, Slack-style text, ntfy, Alertmanager).

The request path only appends each record to a bounded deque (`AlertEngine.observe`); the
evaluation loop folds them into time buckets every ALERT_EVAL_INTERVAL_S seconds.
"""
