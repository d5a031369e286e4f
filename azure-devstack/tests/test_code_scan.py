"""`python -m devstack check`: SDK calls found in an app's code, mapped to actions, checked against its declaration.

Each test writes a tiny app to tmp_path (pyproject.toml with [tool.devstack], function_app.py, a
package, an access.toml) with a copy of the minimal app's infra/ (tests/minimal_app/infra) for the
role lookup, and scans it with mypy: no stack runs. One mypy cache serves the session, so the SDKs are
analysed once. The app's own code is checked by the app's own tests, never here.
"""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from devstack import check_cli, checks, code_scan, grants, role_advice, sdk_actions
from devstack.code_scan import default_cache_dir
from devstack.declaration import Declaration
from devstack.project import Project
from devstack.refusals import Fixes
from devstack.sdk_actions import Permission

MINIMAL_INFRA = Path(__file__).resolve().parent / "minimal_app" / "infra"  # the tooling's own test app
_COSMOS = "Microsoft.DocumentDB/databaseAccounts"
READ_METADATA = f"{_COSMOS}/readMetadata"
ITEMS_READ = f"{_COSMOS}/sqlDatabases/containers/items/read"
ITEMS_DELETE = f"{_COSMOS}/sqlDatabases/containers/items/delete"
ITEMS_CREATE = f"{_COSMOS}/sqlDatabases/containers/items/create"
ITEMS_UPSERT = f"{_COSMOS}/sqlDatabases/containers/items/upsert"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
BLOB_WRITE = f"{_BLOBS}/write"
BLOB_ADD = f"{_BLOBS}/add/action"
GET_SECRET = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
SET_SECRET = "Microsoft.KeyVault/vaults/secrets/setSecret/action"
CONTAINER_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/read"
# The minimal app's settings (minimal_app/infra/app.bicep) that locate each resource, as its
# notes/access.toml names them.
_RESOURCES = {
    "cosmos": 'name = "pages"\nservice = "cosmos"\nendpoint-setting = "PAGES_URL"\n'
    'database-setting = "PAGES_DATABASE"\ncontainer-setting = "PAGES_CONTAINER"\n',
    "blob": 'name = "notes"\nservice = "blob"\nendpoint-setting = "NOTES_ACCOUNT_URL"\n'
    'container-setting = "NOTES_CONTAINER"\n',
    "keyvault": 'name = "greeting"\nservice = "keyvault"\nendpoint-setting = "VAULT_URL"\nsecret-names = "greeting"\n',
}
# What minimal_app/infra gives the app's identity on its pages container: a custom role, defined there.
PAGES_ROLE, PAGES_ROLE_FILE = "Notes app: read and write pages", "infra/app.bicep"
_FUNCTION_APP = """\
import azure.functions as func

from shop import store

app = func.FunctionApp()
"""


@pytest.fixture(scope="session")
def mypy_cache() -> Path:
    """The user's cache, as the command uses it: it holds only the SDKs' and the standard library's
    analyses (the app's files are always re-checked), so sharing it changes no verdict."""
    return default_cache_dir()


def make_app(
    root: Path,
    code: str,
    actions: dict[str, list[str]],
    *,
    function_app: str = _FUNCTION_APP,
    files: dict[str, str] | None = None,
) -> Project:
    """A tiny app: shop/store.py is `code`; access.toml declares `actions` per service."""
    (root / "shop").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[tool.devstack]\nfunction-app = "function_app.py"\ninfra = "infra"\n'
        'access = "shop/access.toml"\ngrants = "shop/grants.json"\n'
    )
    (root / "function_app.py").write_text(textwrap.dedent(function_app))
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "store.py").write_text(textwrap.dedent(code))
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    declaration = ""
    for service, declared in actions.items():
        listed = ", ".join(f'{{ action = "{a}", why = "test" }}' for a in declared)
        declaration += f"[[resource]]\n{_RESOURCES[service]}actions = [{listed}]\n\n"
    (root / "shop" / "access.toml").write_text(declaration)
    if not (root / "infra").exists():
        shutil.copytree(MINIMAL_INFRA, root / "infra", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return Project.load(root / "pyproject.toml")


def line_of(project: Project, marker: str, file: str = "shop/store.py") -> int:
    """The line of `file` that carries the comment `# <marker>`."""
    lines = (project.root / file).read_text().splitlines()
    (number,) = [i for i, text in enumerate(lines, start=1) if text.rstrip().endswith(f"# {marker}")]
    return number


def check(project: Project, cache: Path) -> tuple[code_scan.Scan, list[checks.Finding]]:
    scanned = code_scan.scan(project, cache_dir=cache)
    return scanned, checks.check_calls(project, scanned.calls)


# ---- the table ----------------------------------------------------------------------------------

# Public methods that send no request of their own (or, send_request, any request it is given).
_NO_REQUEST = {"close", "send_request", "from_connection_string", "from_container_url", "from_blob_url"}
_NO_REQUEST |= {"get_blob_client", "get_container_client", "get_database_client", "get_user_client"}
_NO_REQUEST |= {"is_feed_range_subset"}
_MODULES = {
    "SecretClient": ("azure.keyvault.secrets", "azure.keyvault.secrets.aio"),
    "BlobServiceClient": ("azure.storage.blob", "azure.storage.blob.aio"),
    "ContainerClient": ("azure.storage.blob", "azure.storage.blob.aio"),
    "BlobClient": ("azure.storage.blob", "azure.storage.blob.aio"),
    "BlobLeaseClient": ("azure.storage.blob", "azure.storage.blob.aio"),
    "CosmosClient": ("azure.cosmos", "azure.cosmos.aio"),
    "DatabaseProxy": ("azure.cosmos", "azure.cosmos.aio"),
    "ContainerProxy": ("azure.cosmos", "azure.cosmos.aio"),
    "ScriptsProxy": ("azure.cosmos.scripts", "azure.cosmos.aio._scripts"),
}


@pytest.mark.parametrize("cls", sorted(_MODULES))
def test_the_table_maps_every_public_method_of_the_installed_sdk_and_nothing_else(cls: str) -> None:
    public: set[str] = set()
    for module in _MODULES[cls]:
        found = getattr(importlib.import_module(module), cls)
        public |= {name for name, value in inspect.getmembers(found) if not name.startswith("_") and callable(value)}
    mapped = {method for (mapped_cls, method) in sdk_actions.SDK_METHODS if mapped_cls == cls}
    assert public - _NO_REQUEST - mapped == set(), "public methods with no row: add them to devstack/sdk_actions.py"
    assert mapped - public == set(), "rows for methods the SDK does not have"
    assert sdk_actions.CLASSES[cls][0] in {"keyvault", "blob", "cosmos"}


def test_every_cosmos_data_call_needs_read_metadata_and_control_plane_calls_are_refused() -> None:
    for method in sdk_actions.methods_of("cosmos"):
        needs = method.needs()
        if needs.refused is None:
            assert sdk_actions.Requirement.of(Permission(READ_METADATA)) in needs.requirements, method.name
    for name in ("DatabaseProxy.create_container", "CosmosClient.create_database_if_not_exists"):
        cls, method_name = name.split(".")
        refused = sdk_actions.SDK_METHODS[(cls, method_name)].needs().refused
        assert refused == "this is a control-plane operation: create it in infra/, not from the code"


def test_put_blob_is_write_or_add_for_a_new_blob_and_overwrite_needs_write() -> None:
    upload = sdk_actions.SDK_METHODS[("BlobClient", "upload_blob")]
    (default,) = upload.needs().requirements
    assert {(p.action, p.new_only) for p in default.any_of} == {(BLOB_WRITE, False), (BLOB_ADD, True)}
    overwrite = upload.needs(sdk_actions.Arguments(keywords={"overwrite": True})).requirements
    assert sdk_actions.Requirement.of(Permission(BLOB_WRITE)) in overwrite
    computed = upload.needs(sdk_actions.Arguments(keywords={"overwrite": sdk_actions.NOT_LITERAL})).requirements
    assert computed == overwrite
    assert upload.needs(sdk_actions.Arguments(keywords={"overwrite": False})).requirements == (default,)


@pytest.mark.parametrize(
    ("service", "action", "data_action", "role"),
    [
        # Not Owner, although its single `blobs/*` entry makes its list the shorter.
        ("blob", f"{_BLOBS}/delete", True, "Storage Blob Data Contributor"),
        ("blob", f"{_BLOBS}/read", True, "Storage Blob Data Reader"),
        ("blob", "Microsoft.Storage/storageAccounts/blobServices/containers/read", False, "Storage Blob Data Reader"),
        ("keyvault", GET_SECRET, True, "Key Vault Secrets User"),
        ("keyvault", SET_SECRET, True, "Key Vault Secrets Officer"),
        ("cosmos", f"{_COSMOS}/sqlDatabases/containers/executeQuery", True, "Cosmos DB Built-in Data Reader"),
        ("cosmos", ITEMS_DELETE, True, "Cosmos DB Built-in Data Contributor"),
    ],
)
def test_the_narrowest_built_in_role_is_the_one_allowing_least_of_the_service(
    service: str, action: str, data_action: bool, role: str
) -> None:
    found = role_advice.narrowest_role(service, [Permission(action, data_action)])
    assert found is not None
    assert found.name == role


def test_grants_check_and_refusals_give_one_answer_in_the_same_words(tmp_path: Path) -> None:
    project = make_app(
        tmp_path,
        """\
        def nothing() -> None:
            pass
        """,
        {"blob": [CONTAINER_READ], "keyvault": [SET_SECRET], "cosmos": [READ_METADATA, ITEMS_DELETE]},
    )
    advisor = role_advice.RoleAdvisor.for_project(project)
    fixes = {g.declared.action: g.fix for g in grants.resolve_with(advisor)}
    officer = (
        "to grant it, assign the app's identity the built-in role 'Key Vault Secrets Officer' "
        "(the narrowest that has it) in infra/"
    )
    extend = f"to grant it, add it to the custom role '{PAGES_ROLE}' ({PAGES_ROLE_FILE})"
    notes_contributor = (
        "infra/ already grants it to the app's identity "
        "(role 'Storage Blob Data Contributor', infra/app.bicep:writeNotes)"
    )
    # A Blob container operation is a control-plane action: the Contributor role at the container has it.
    assert fixes == {CONTAINER_READ: "", SET_SECRET: officer, READ_METADATA: "", ITEMS_DELETE: extend}
    assert grants.ungranted(project) == [
        f"greeting: infra/ grants the app's identity no role for {SET_SECRET} (test): {officer}",
        f"pages: infra/ grants the app's identity no role for {ITEMS_DELETE} (test): {extend}",
    ]

    resources = advisor.resources
    containers = f"{resources.data_account.id}/blobServices/default/containers"
    declaration = Declaration.load(project.access_file)
    (notes,) = advisor.scopes(declaration.of_service("blob"))
    (pages,) = advisor.scopes(declaration.of_service("cosmos"))
    refusals = Fixes(project, None, {}, resources)  # the local deployment as the advisor's own
    assert refusals.for_refusal("keyvault", SET_SECRET, f"{resources.vault.id}/secrets/greeting") == officer
    assert refusals.for_refusal("cosmos", ITEMS_DELETE, pages) == extend
    assert refusals.for_refusal("blob", CONTAINER_READ, notes) == notes_contributor
    assert refusals.for_refusal("blob", CONTAINER_READ, f"{containers}/elsewhere") == (
        "to grant it, assign the app's identity the built-in role 'Storage Blob Data Reader' "
        "(the narrowest that has it) in infra/ (the app does not declare it in shop/access.toml)"
    )
    assert refusals.for_refusal("cosmos", READ_METADATA, resources.cosmos.id) == (
        "to grant it, assign the app's identity the Cosmos DB built-in data role 'Cosmos DB Built-in Data Reader' "
        "(the narrowest that has it) in infra/ (the app does not declare it in shop/access.toml)"
    )


# ---- the scan and the check on a tiny app ---------------------------------------------------------


def test_a_declared_call_passes(tmp_path: Path, mypy_cache: Path) -> None:
    project = make_app(
        tmp_path,
        """\
        from azure.cosmos.aio import ContainerProxy


        async def read(index: ContainerProxy) -> object:
            return await index.read_item("id", partition_key="pk")  # read
        """,
        {"cosmos": [READ_METADATA, ITEMS_READ]},
    )
    scanned, findings = check(project, mypy_cache)
    assert findings == []
    assert [c.describe() for c in scanned.calls] == [
        f"shop/store.py:{line_of(project, 'read')} ContainerProxy.read_item"
    ]
    assert scanned.calls[0].receiver == "azure.cosmos.aio._container.ContainerProxy"


def test_an_undeclared_delete_item_is_found_with_its_line_action_and_the_custom_role_to_extend(
    tmp_path: Path, mypy_cache: Path
) -> None:
    project = make_app(
        tmp_path,
        """\
        from azure.cosmos.aio import ContainerProxy


        class Store:
            def __init__(self, index: ContainerProxy) -> None:
                self._index = index

            async def forget(self, page_id: str, book: str) -> None:
                await self._index.read_item(page_id, partition_key=book)
                await self._index.delete_item(page_id, partition_key=book)  # delete
        """,
        {"cosmos": [READ_METADATA, ITEMS_READ]},
    )
    _, findings = check(project, mypy_cache)
    (finding,) = findings
    assert finding.location == f"shop/store.py:{line_of(project, 'delete')}"
    assert finding.call == "ContainerProxy.delete_item"
    assert finding.actions == (ITEMS_DELETE,)
    line = finding.line()
    assert "\n" not in line
    assert line.startswith(f"shop/store.py:{line_of(project, 'delete')} ContainerProxy.delete_item (Delete Document) ")
    assert f"needs {ITEMS_DELETE}: declare it in shop/access.toml (cosmos resource 'pages')" in line
    # infra/ gives the app's identity a custom Cosmos role at the container: extend it, where it is defined.
    match = re.search(r"add it to the custom role '([^']+)' \((infra/[\w/.-]+\.bicep)\)$", line)
    assert match is not None, line
    assert match.groups() == (PAGES_ROLE, PAGES_ROLE_FILE)
    assert line.endswith(f"; to grant it, add it to the custom role '{PAGES_ROLE}' ({PAGES_ROLE_FILE})")
    assert f"roleName: '{PAGES_ROLE}'" in (project.root / PAGES_ROLE_FILE).read_text()


def test_calls_on_receivers_of_other_types_are_not_sdk_calls(tmp_path: Path, mypy_cache: Path) -> None:
    project = make_app(
        tmp_path,
        """\
        from typing import Any

        from azure.cosmos.aio import ContainerProxy


        class Shelf:
            async def delete_item(self, item: str, partition_key: str) -> None:
                del item, partition_key


        class AuditedIndex(ContainerProxy):
            pass


        class SecretClient:  # the SDK's class name, not the SDK's class
            def get_secret(self, name: str) -> str:
                return name


        async def tidy(shelf: Shelf, anything: Any, audited: AuditedIndex, vault: SecretClient) -> None:
            vault.get_secret("greeting")  # own class named like the SDK's
            await shelf.delete_item("id", partition_key="pk")  # own class
            await anything.delete_item("id", partition_key="pk")  # any
            await audited.delete_item("id", partition_key="pk")  # subclass
        """,
        {"cosmos": [READ_METADATA]},
    )
    scanned, findings = check(project, mypy_cache)
    assert [f.location for f in findings] == [f"shop/store.py:{line_of(project, 'subclass')}"]
    assert [c.method.name for c in scanned.calls] == ["ContainerProxy.delete_item"]
    assert scanned.unresolved == (f"shop/store.py:{line_of(project, 'any')} delete_item",)


def test_sync_and_aio_clients_both_resolve(tmp_path: Path, mypy_cache: Path) -> None:
    project = make_app(
        tmp_path,
        """\
        from azure.cosmos import ContainerProxy
        from azure.cosmos.aio import ContainerProxy as AsyncContainerProxy
        from azure.keyvault.secrets import SecretClient
        from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient


        def sync_calls(index: ContainerProxy, vault: SecretClient) -> None:
            index.delete_item("id", partition_key="pk")  # sync delete
            vault.get_secret("greeting")  # sync get


        async def aio_calls(index: AsyncContainerProxy | None, vault: AsyncSecretClient) -> None:
            await vault.get_secret("greeting")  # aio get
            if index is not None:
                await index.delete_item("id", partition_key="pk")  # aio delete
        """,
        {"cosmos": [READ_METADATA], "keyvault": [GET_SECRET]},
    )
    scanned, findings = check(project, mypy_cache)
    flavours = {(c.location, c.method.name, c.aio) for c in scanned.calls}
    assert flavours == {
        (f"shop/store.py:{line_of(project, 'sync delete')}", "ContainerProxy.delete_item", False),
        (f"shop/store.py:{line_of(project, 'sync get')}", "SecretClient.get_secret", False),
        (f"shop/store.py:{line_of(project, 'aio get')}", "SecretClient.get_secret", True),
        (f"shop/store.py:{line_of(project, 'aio delete')}", "ContainerProxy.delete_item", True),
    }
    assert sorted(f.location for f in findings) == sorted(
        f"shop/store.py:{line_of(project, marker)}" for marker in ("sync delete", "aio delete")
    )


def test_upload_blob_needs_write_only_when_it_may_overwrite(tmp_path: Path, mypy_cache: Path) -> None:
    code = """\
        from azure.storage.blob import BlobClient
        from azure.storage.blob.aio import ContainerClient


        async def uploads(container: ContainerClient, blob: BlobClient, replace: bool, **options: bool) -> None:
            await container.upload_blob("a", b"")  # default
            await container.upload_blob("b", b"", overwrite=False)  # no overwrite
            await container.upload_blob("c", b"", overwrite=True)  # overwrite
            blob.upload_blob(b"", overwrite=replace)  # computed
            await container.upload_blob("d", b"", **options)  # passed on
        """
    create_only = make_app(tmp_path / "create-only", code, {"blob": [BLOB_ADD]})
    _, findings = check(create_only, mypy_cache)
    assert [(f.location, f.actions) for f in findings] == [
        (f"shop/store.py:{line_of(create_only, 'overwrite')}", (BLOB_WRITE,)),
        (f"shop/store.py:{line_of(create_only, 'computed')}", (BLOB_WRITE,)),
        (f"shop/store.py:{line_of(create_only, 'passed on')}", (BLOB_WRITE,)),
    ]
    # minimal_app/infra already gives the app Storage Blob Data Contributor on the notes container.
    assert "(Put Blob (overwrite=True)) needs" in findings[0].line()
    granted = "infra/ already grants it to the app's identity (role 'Storage Blob Data Contributor', "
    assert findings[0].line().endswith(f"{granted}infra/app.bicep:writeNotes)")
    writer = make_app(tmp_path / "writer", code, {"blob": [BLOB_WRITE]})
    assert check(writer, mypy_cache)[1] == []


def test_control_plane_calls_are_findings_whatever_is_declared(tmp_path: Path, mypy_cache: Path) -> None:
    project = make_app(
        tmp_path,
        """\
        from azure.cosmos import PartitionKey
        from azure.cosmos.aio import DatabaseProxy


        async def setup(database: DatabaseProxy) -> None:
            await database.create_container_if_not_exists("pages", PartitionKey("/book"))  # create
        """,
        {"cosmos": [READ_METADATA, f"{_COSMOS}/*"]},
    )
    (finding,) = check(project, mypy_cache)[1]
    assert finding.line() == (
        f"shop/store.py:{line_of(project, 'create')} DatabaseProxy.create_container_if_not_exists (Create Collection): "
        "this is a control-plane operation: create it in infra/, not from the code"
    )


def test_a_batch_needs_the_actions_of_its_literal_operations(tmp_path: Path, mypy_cache: Path) -> None:
    project = make_app(
        tmp_path,
        """\
        from typing import Any

        from azure.cosmos.aio import ContainerProxy


        async def batch(index: ContainerProxy, item: dict[str, Any], operations: list[Any]) -> None:
            await index.execute_item_batch([("create", (item,)), ("upsert", (item,))], "pk")  # literal
            await index.execute_item_batch(operations, "pk")  # computed
        """,
        {"cosmos": [READ_METADATA, ITEMS_CREATE]},
    )
    findings = check(project, mypy_cache)[1]
    assert [(f.location, f.actions) for f in findings] == [
        (f"shop/store.py:{line_of(project, 'literal')}", (ITEMS_UPSERT,)),
        (f"shop/store.py:{line_of(project, 'computed')}", ()),
    ]
    assert "which item actions it needs cannot be told" in findings[1].line()


def test_only_the_files_the_function_app_imports_are_the_apps(tmp_path: Path, mypy_cache: Path) -> None:
    project = make_app(
        tmp_path,
        """\
        def nothing() -> None:
            pass
        """,
        {"keyvault": [GET_SECRET]},
        function_app="""\
            import azure.functions as func

            import shop.audit

            app = func.FunctionApp(http_auth_level=shop.audit.LEVEL)


            def later() -> None:
                from shop.rotation import rotate  # an import inside a function counts too

                rotate()
            """,
        files={
            "shop/rotation.py": """\
                from azure.keyvault.secrets import SecretClient

                from . import store


                def rotate(vault: SecretClient | None = None) -> None:
                    store.nothing()
                    if vault is not None:
                        vault.set_secret("greeting", "new")  # set
                """,
            "shop/audit.py": """\
                import azure.functions as func
                from azure.keyvault.secrets import SecretClient

                LEVEL = func.AuthLevel.FUNCTION


                def audit(vault: SecretClient) -> None:
                    vault.get_secret("greeting")
                """,
            "shop/unused.py": """\
                from azure.keyvault.secrets import SecretClient


                def purge(vault: SecretClient) -> None:
                    vault.purge_deleted_secret("greeting")
                """,
        },
    )
    scanned, findings = check(project, mypy_cache)
    assert sorted(p.relative_to(project.root).as_posix() for p in scanned.files) == [
        "function_app.py",
        "shop/__init__.py",
        "shop/audit.py",
        "shop/rotation.py",
        "shop/store.py",
    ]
    (finding,) = findings
    assert finding.location == f"shop/rotation.py:{line_of(project, 'set', 'shop/rotation.py')}"
    assert finding.actions == (SET_SECRET,)
    assert "assign the app's identity the built-in role 'Key Vault Secrets Officer'" in finding.line()


def test_the_cli_prints_one_line_per_finding_or_a_summary(
    tmp_path: Path, mypy_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = """\
        from azure.cosmos.aio import ContainerProxy


        async def forget(index: ContainerProxy) -> None:
            await index.delete_item("id", partition_key="pk")
        """
    failing = make_app(tmp_path / "failing", code, {"cosmos": [READ_METADATA]})
    assert check_cli.main(["--project", str(failing.root), "--cache-dir", str(mypy_cache)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith("shop/store.py:5 ContainerProxy.delete_item (Delete Document) needs ")

    declared = make_app(tmp_path / "declared", code, {"cosmos": [READ_METADATA, ITEMS_DELETE]})
    assert check_cli.main(["--project", str(declared.root / "shop"), "--cache-dir", str(mypy_cache)]) == 1
    (ungranted,) = capsys.readouterr().out.splitlines()
    assert f"infra/ grants the app's identity no role for {ITEMS_DELETE}" in ungranted
    assert "add it to the custom role 'Notes app: read and write pages'" in ungranted

    reading = code.replace('delete_item("id", partition_key="pk")', 'read_item("id", partition_key="pk")')
    passing = make_app(tmp_path / "passing", reading, {"cosmos": [READ_METADATA, ITEMS_READ]})
    assert check_cli.main(["--project", str(passing.root / "shop"), "--cache-dir", str(mypy_cache)]) == 0
    (summary,) = capsys.readouterr().out.splitlines()
    assert summary.startswith("1 SDK calls, all declared in shop/access.toml (1 cosmos; 3 files scanned in ")
