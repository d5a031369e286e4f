"""The FunctionRpc message classes (the host <-> worker protocol) that azure-functions-runtime builds with.

The runtime makes every response from a `protos` object its caller passes in; in Azure that is the
3.13+ worker's generated gRPC module. Microsoft publishes protoc-generated stubs for the same protocol
only inside the `azure-functions-runtime-v1` wheel, as a top-level `tests/protos` package (a name that
would merge with any project's own `tests`). They are imported here from that wheel's installed files
under the private package name below, without running the package's `__init__`: it imports grpc,
which only the gRPC transport needs. Needs `protobuf` and `azure-functions-runtime-v1` (Python 3.13+).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import sys
import types
from pathlib import Path
from typing import Any

PACKAGE = "_devstack_function_rpc"
DISTRIBUTION = "azure-functions-runtime-v1"
STUBS_DIRECTORY = "tests/protos"
# FunctionRpc_pb2 imports the identity and shared stubs relatively; NullableTypes holds NullableString & co.
STUB_MODULES = ("FunctionRpc_pb2", "shared.NullableTypes_pb2")
INSTALL_HINT = "pip install protobuf azure-functions-runtime-v1 (both are in requirements-dev.txt for Python 3.13+)"


class ProtosUnavailableError(RuntimeError):
    pass


@functools.cache
def load() -> Any:
    """Every message and enum type of the protocol, by name (`protos.InvocationRequest`, ...)."""
    directory = _stubs_directory()
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE, "FunctionRpc stubs from the azure-functions-runtime-v1 wheel")
        package.__path__ = [str(directory)]
        sys.modules[PACKAGE] = package
    try:
        modules = [importlib.import_module(f"{PACKAGE}.{name}") for name in STUB_MODULES]
    except ImportError as exc:
        raise ProtosUnavailableError(f"the FunctionRpc stubs need protobuf ({exc}); {INSTALL_HINT}") from exc
    types_by_name: dict[str, Any] = {}
    for module in modules:
        descriptor = module.DESCRIPTOR
        for name in (*descriptor.message_types_by_name, *descriptor.enum_types_by_name):
            types_by_name[name] = getattr(module, name)
    return types.SimpleNamespace(**types_by_name)


def _stubs_directory() -> Path:
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ProtosUnavailableError(f"{DISTRIBUTION} is not installed; {INSTALL_HINT}") from None
    directory = Path(str(distribution.locate_file(STUBS_DIRECTORY)))
    if not (directory / "FunctionRpc_pb2.py").is_file():
        raise ProtosUnavailableError(f"{DISTRIBUTION} has no {STUBS_DIRECTORY}/FunctionRpc_pb2.py at {directory}")
    return directory
