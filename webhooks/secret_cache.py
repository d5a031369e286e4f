"""Per-source webhook signing secrets from Key Vault, cached and safe across rotation.

- Each source's secret `webhook-<source>` is cached for SECRET_CACHE_SECONDS; a new version is picked
  up within that time.
- Rotation: the newest enabled, unexpired version *and the one before it* are accepted, so a sender
  still signing with the previous secret keeps working while it is updated. Disabling a version (or
  letting it expire) removes it at the next refresh.
- A signature that matches neither may mean the secret was just rotated: the cache refreshes at once,
  but at most once per source every REFRESH_COOLDOWN_SECONDS, so forged requests cannot be used to
  flood Key Vault.
- Key Vault down or hanging: a warm cache keeps serving what it has, waiting at most
  STALE_REFRESH_BUDGET_SECONDS for a refresh, and tries again every FAILED_REFRESH_BACKOFF_SECONDS; a
  cold cache raises, which the caller answers with 503.
- A source whose secret does not exist yet (just deployed) answers 503 `source-not-configured`, and
  Key Vault is asked again only after FAILED_REFRESH_BACKOFF_SECONDS.
- Concurrent requests for a cold or expired source share one Key Vault round trip.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets import KeyVaultSecret, SecretProperties
from azure.keyvault.secrets.aio import SecretClient

from frame.access import network_refusal
from frame.clients import get_clients
from frame.dependencies import KEY_VAULT, Waits, current_waits, problem_for_dependency_error, waiting_for
from frame.problems import SOURCE_NOT_CONFIGURED, Problem
from webhooks.settings import get_webhook_settings
from webhooks.signing import secret_name

log = logging.getLogger(__name__)

REFRESH_COOLDOWN_SECONDS = 30.0
FAILED_REFRESH_BACKOFF_SECONDS = 10.0
STALE_REFRESH_BUDGET_SECONDS = 2.0
VERSIONS_ACCEPTED = 2  # the current secret and the one it replaced


@dataclass(frozen=True)
class _Entry:
    values: tuple[str, ...]  # newest first
    fresh_until: float
    missing: bool = False  # the secret does not exist (yet): remembered briefly, so Key Vault is not asked per request


def secret_missing(source: str) -> Problem:
    return SOURCE_NOT_CONFIGURED(
        f"the Key Vault secret {secret_name(source)!r} does not exist",
        headers={"Retry-After": str(int(FAILED_REFRESH_BACKOFF_SECONDS))},
    )


class SecretCache:
    def __init__(
        self,
        client: SecretClient,
        *,
        ttl_seconds: float,
        refresh_cooldown_seconds: float = REFRESH_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._cooldown = refresh_cooldown_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._last_forced: dict[str, float] = {}
        self._loading: dict[str, Waits | None] = {}  # whose Key Vault round trip a source's lock is held for

    async def secrets_for(self, source: str) -> tuple[str, ...]:
        """The accepted secret values for `source`, newest first."""
        entry = self._entries.get(source)
        if entry is not None and self._clock() < entry.fresh_until:
            if entry.missing:
                raise secret_missing(source)
            return entry.values
        return await self._refresh(source, stale=entry)

    async def refresh_after_mismatch(self, source: str, tried: tuple[str, ...]) -> tuple[str, ...] | None:
        """Values newer than `tried`, or None if there are none.

        A reload already under way (another request's mismatch, a TTL refresh) is waited for and used;
        otherwise Key Vault is asked now, unless this source was force-reloaded within the cooldown.
        """
        with waiting_for(KEY_VAULT, behind=self._loading.get(source)):
            async with self._lock(source):
                pass
        current = self._entries.get(source)
        if current is not None and not current.missing and current.values != tried:
            return current.values
        now = self._clock()
        last = self._last_forced.get(source)
        if last is not None and now - last < self._cooldown:
            return None
        self._last_forced[source] = now
        return await self._refresh(source, stale=current, force=True)

    def _lock(self, source: str) -> asyncio.Lock:
        return self._locks.setdefault(source, asyncio.Lock())

    async def _refresh(self, source: str, *, stale: _Entry | None, force: bool = False) -> tuple[str, ...]:
        # Queued behind another request's round trip, this request waits on whatever that one waits on.
        with waiting_for(KEY_VAULT, behind=self._loading.get(source)):
            async with self._lock(source):
                self._loading[source] = current_waits()
                try:
                    return await self._refresh_held(source, stale=stale, force=force)
                finally:
                    self._loading.pop(source, None)

    async def _refresh_held(self, source: str, *, stale: _Entry | None, force: bool) -> tuple[str, ...]:
        """The body of `_refresh`, run while the source's lock is held."""
        current = self._entries.get(source)
        if current is not None and current is not stale and (force or self._clock() < current.fresh_until):
            return current.values  # another request refreshed it while this one waited
        try:
            values = await self._load_within_budget(secret_name(source), stale)
        except ResourceNotFoundError:
            log.warning("the signing secret for source %s does not exist in Key Vault", source)
            self._entries[source] = _Entry((), self._clock() + FAILED_REFRESH_BACKOFF_SECONDS, missing=True)
            raise secret_missing(source) from None
        except (AzureError, TimeoutError) as error:
            if stale is None or stale.missing:
                failure = error if isinstance(error, AzureError) else AzureError("timed out")
                raise problem_for_dependency_error(KEY_VAULT, failure) from error
            log.warning("Key Vault refresh failed for source %s; using cached secrets", source)
            self._entries[source] = _Entry(stale.values, self._clock() + FAILED_REFRESH_BACKOFF_SECONDS)
            return stale.values
        self._entries[source] = _Entry(values, self._clock() + self._ttl)
        return values

    async def _load_within_budget(self, name: str, stale: _Entry | None) -> tuple[str, ...]:
        """With cached values to fall back on, a slow Key Vault must not hold the delivery for long."""
        if stale is None or stale.missing:
            return await self._load(name)
        async with asyncio.timeout(STALE_REFRESH_BUDGET_SECONDS):
            return await self._load(name)

    async def _load(self, name: str) -> tuple[str, ...]:
        """The latest version as Key Vault defines it, then the newest other usable version.

        Version timestamps have one-second resolution, so "latest" comes from Key Vault itself rather
        than from sorting; sorting only picks the previous version.
        """
        listed = [p async for p in self._client.list_properties_of_secret_versions(name)]
        try:
            latest: KeyVaultSecret | None = await self._client.get_secret(name)
        except HttpResponseError as error:
            if not latest_disabled(error):
                raise
            latest = None
        current = [latest] if latest is not None and usable(latest.properties) else []
        others = sorted(
            (p for p in listed if usable(p) and (latest is None or p.version != latest.properties.version)),
            key=created,
            reverse=True,
        )
        wanted = others[: VERSIONS_ACCEPTED - len(current)]
        previous = await asyncio.gather(*(self._client.get_secret(name, p.version) for p in wanted))
        return tuple(s.value for s in (*current, *previous) if s.value)


def latest_disabled(error: HttpResponseError) -> bool:
    """Key Vault's 403 for reading a disabled version (inner error SecretDisabled), not a 403 refusing the
    app's identity (ForbiddenByRbac) or its network (frame/access.py): those must fail, and be named."""
    odata = error.error
    inner = odata.innererror if odata is not None else None
    code = inner.get("code") if isinstance(inner, Mapping) else None
    return error.status_code == 403 and code != "ForbiddenByRbac" and network_refusal(error) is None


def created(properties: SecretProperties) -> datetime.datetime:
    """When a version was created, for ordering versions; one without a date sorts oldest."""
    return properties.created_on or datetime.datetime.min.replace(tzinfo=datetime.UTC)


def usable(properties: SecretProperties) -> bool:
    """Enabled, and inside its not-before / expires window: a version Key Vault will serve."""
    now = datetime.datetime.now(datetime.UTC)
    if not properties.enabled:
        return False
    if properties.expires_on is not None and properties.expires_on <= now:
        return False
    return properties.not_before is None or properties.not_before <= now


@functools.cache
def get_secret_cache() -> SecretCache:
    return SecretCache(get_clients().secrets, ttl_seconds=get_webhook_settings().secret_cache_seconds)
