"""What the vault does with deleted secrets: how long it keeps them, whether they may be purged, and
the recovery level every secret reports because of it.

Azure takes both from the vault's properties, `softDeleteRetentionInDays` (7 to 90, default 90) and
`enablePurgeProtection`; the stack reads them from infra/ through the evaluated deployment. The
levels are the REST spec's DeletionRecoveryLevel: "Customized" when the retention is below 90 days,
"+Purgeable" when purge protection is off. Recordings show `CustomizedRecoverable+Purgeable` with
`recoverableDays` 7 (a test vault) and `Recoverable+Purgeable` with 90; CLI output from vaults with
purge protection shows `CustomizedRecoverable` with 7. The "+ProtectedSubscription" levels depend on
the subscription, which the local tenant does not model.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra_model.resources import Vault

DEFAULT_RETENTION_DAYS = 90
MIN_RETENTION_DAYS = 7
SECONDS_PER_DAY = 24 * 3600


@dataclass(frozen=True)
class DeletionPolicy:
    retention_days: int = DEFAULT_RETENTION_DAYS
    purge_protection: bool = False

    def __post_init__(self) -> None:
        if not MIN_RETENTION_DAYS <= self.retention_days <= DEFAULT_RETENTION_DAYS:
            raise ValueError(
                f"softDeleteRetentionInDays must be {MIN_RETENTION_DAYS} to {DEFAULT_RETENTION_DAYS}, "
                f"got {self.retention_days}"
            )

    @classmethod
    def for_vault(cls, vault: Vault, *, purge_protection: bool | None = None) -> DeletionPolicy:
        """As infra/ declares the vault; `purge_protection` overrides its enablePurgeProtection."""
        return cls(
            retention_days=vault.soft_delete_days or DEFAULT_RETENTION_DAYS,
            purge_protection=vault.purge_protection if purge_protection is None else purge_protection,
        )

    @property
    def recovery_level(self) -> str:
        level = "Recoverable" if self.retention_days == DEFAULT_RETENTION_DAYS else "CustomizedRecoverable"
        return level if self.purge_protection else f"{level}+Purgeable"

    def purge_date(self, deleted_at: int) -> int:
        """When a secret deleted at `deleted_at` is purged by the vault itself."""
        return deleted_at + self.retention_days * SECONDS_PER_DAY
