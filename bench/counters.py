"""What a block of calls cost in token and Key Vault requests, from the stack's own counters.

The token endpoint counts per (client id, audience) and the vault per operation, for every caller
together; the bench runs one variant at a time and takes the difference around each block.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from devstack.testing import StackInfo


@dataclass(frozen=True)
class Snapshot:
    tokens: Counter[str]  # audience -> requests, for the identity under test only
    keyvault: Counter[str]  # operation -> requests


class StackCounters:
    def __init__(self, info: StackInfo, client_id: str) -> None:
        self._info = info
        # The bench itself reads the signing secret as the developer identity; that is not the app's cost.
        self._client_id = client_id

    def snapshot(self) -> Snapshot:
        tokens = Counter(
            {resource: n for (client, resource), n in self._info.token_counts().items() if client == self._client_id}
        )
        return Snapshot(tokens, Counter(self._info.keyvault_counts()))


@dataclass
class Tally:
    """Requests attributed to one variant, summed over its blocks."""

    tokens: Counter[str]
    keyvault: Counter[str]

    @classmethod
    def empty(cls) -> Tally:
        return cls(Counter(), Counter())

    def add(self, before: Snapshot, after: Snapshot) -> None:
        self.tokens.update(after.tokens - before.tokens)
        self.keyvault.update(after.keyvault - before.keyvault)
