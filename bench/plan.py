"""How much the bench does: the counts per phase, derived from `--requests` and `--concurrency`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_REQUESTS = 400
DEFAULT_CONCURRENCY = 32
# Derived from --requests: twice as many concurrent deliveries, a quarter as many naive ones (each
# costs tens of milliseconds) and list calls (each scans the whole local index).
CONCURRENT_PER_REQUEST = 2
NAIVE_DIVISOR = 4
LIST_DIVISOR = 4
# Rounds of blocks per phase (bench/schedule.py): short sequential blocks (25 calls at the default)
# keep neighbouring variants on the same machine conditions; concurrent blocks stay long (200 calls
# at the default, over 6 x the senders) so their start and drain barely move the rate.
SEQUENTIAL_ROUNDS = 16
CONCURRENT_ROUNDS = 4
LIST_ROUNDS = 10


@dataclass(frozen=True)
class Plan:
    requests: int = DEFAULT_REQUESTS  # deliveries one at a time, per variant
    concurrency: int = DEFAULT_CONCURRENCY
    profile: Path | None = None

    @property
    def concurrent_requests(self) -> int:
        return self.requests * CONCURRENT_PER_REQUEST

    @property
    def naive_requests(self) -> int:
        return max(1, self.requests // NAIVE_DIVISOR)

    @property
    def list_requests(self) -> int:
        return max(1, self.requests // LIST_DIVISOR)

    def as_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "concurrency": self.concurrency,
            "concurrent_requests": self.concurrent_requests,
            "naive_requests": self.naive_requests,
            "list_requests": self.list_requests,
        }
