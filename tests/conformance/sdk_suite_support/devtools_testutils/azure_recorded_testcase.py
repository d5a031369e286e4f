"""`devtools_testutils.azure_recorded_testcase`: azure-cosmos' test_config.py calls `get_credential()` at
import whenever its endpoint is not the emulator's. Its tests use it only with
COSMOS_TEST_DATA_AUTH_MODE=aad; run with account keys, it is built and never asked for a token."""

from __future__ import annotations

import os
from typing import Any

from azure.identity import ManagedIdentityCredential

from ._async_credential import AsyncAdapter

__all__ = ["get_credential"]


def get_credential(*, is_async: bool = False, **kwargs: Any) -> Any:
    """The managed-identity credential for AZURE_CLIENT_ID, as AzureRecordedTestCase.get_credential."""
    credential = ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID"), **kwargs)
    return AsyncAdapter(credential) if is_async else credential
