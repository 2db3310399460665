"""Pure: refused requests (401, 403, 429) counted, and sampled into records.

A refused request costs the proxy nothing upstream, so a client can send them as fast as the
socket allows; when each became a record, a flood of them pushed real records out of the
bounded recorder queue. Now each is counted under (reason, client) and only a sample is
recorded: one per client every `every_s` seconds, and at most `max_per_s` a second overall
(an address spray has a new client per request). A sampled record says how many refusals it
stands for.

>>> tally = RefusalTally(every_s=5.0, max_per_s=10)
>>> tally.refused("rate_limited", "ci", 0.0), tally.refused("rate_limited", "ci", 1.0)
(1, None)
>>> tally.refused("rate_limited", "ci", 6.0), tally.counts()
(2, {('rate_limited', 'ci'): 3})
"""

from __future__ import annotations

from collections import OrderedDict

OTHER = "other"


class RefusalTally:
    def __init__(
        self,
        every_s: float = 5.0,
        max_per_s: float = 10.0,
        max_clients: int = 10_000,
        max_labels: int = 500,
    ) -> None:
        self.every_s = every_s
        self.max_per_s = max_per_s
        self._max_clients = max_clients
        self._max_labels = max_labels
        self._counts: dict[tuple[str, str], int] = {}
        self._labels: set[str] = set()
        # client -> (time of its last sampled record, refusals since then)
        self._clients: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._allowance = max_per_s
        self._allowance_at = 0.0
        self.total = 0
        self.sampled = 0

    def refused(self, reason: str, client: str, now: float) -> int | None:
        """Count one refusal; when it should be recorded, the refusals the record stands for."""
        self.total += 1
        self._count(reason, client)
        last, pending = self._clients.pop(client, (float("-inf"), 0))
        pending += 1
        if now - last < self.every_s or not self._take_allowance(now):
            self._remember(client, last, pending)
            return None
        self._remember(client, now, 0)
        self.sampled += 1
        return pending

    def counts(self) -> dict[tuple[str, str], int]:
        """Refusals so far per (reason, client label); clients beyond the budget are `other`."""
        return dict(self._counts)

    def _count(self, reason: str, client: str) -> None:
        if client not in self._labels:
            if len(self._labels) >= self._max_labels:
                client = OTHER
            else:
                self._labels.add(client)
        key = (reason, client)
        self._counts[key] = self._counts.get(key, 0) + 1

    def _remember(self, client: str, last: float, pending: int) -> None:
        self._clients[client] = (last, pending)
        if len(self._clients) > self._max_clients:
            self._clients.popitem(last=False)  # the least recently refused client

    def _take_allowance(self, now: float) -> bool:
        elapsed = max(0.0, now - self._allowance_at)
        self._allowance = min(self.max_per_s, self._allowance + elapsed * self.max_per_s)
        self._allowance_at = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True
