"""Per-client rate limit for the chat API: a token bucket per client address, in memory.

Each client may burst up to ``per_minute`` requests and refills at ``per_minute`` per minute. With
several app workers, put the limit in the reverse proxy (or a shared store) instead.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, per_minute: int, *, max_clients: int = 100_000):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def allow(self, client: str, now: float | None = None) -> bool:
        """Take one token for ``client``; False when its bucket is empty."""
        if not self.enabled:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self.max_clients:  # forget the idlest clients
                for key, _ in sorted(self._buckets.items(), key=lambda kv: kv[1][1])[: self.max_clients // 10]:
                    del self._buckets[key]
            return allowed

    def retry_after(self) -> int:
        return max(1, int(round(1.0 / self.rate))) if self.enabled else 0
