"""The project's infrastructure rules: each takes an Infra and returns its problems (empty = fine).

Tests run every rule on infra/ and expect no problems, then run it on a deliberately broken copy
to show it catches the mistake it exists for. Rules read the syntax tree through bicep_tree; they
never trust a comment or a file name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infra_model.syntax import (
    ROLE_ASSIGNMENT,
    BicepFile,
    Grant,
    Infra,
    Node,
    Resource,
    call_arguments,
    call_name,
    object_properties,
    text,
)

Triple = tuple[str, str, str]  # (role definition id, scope type, scope name)

STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"
KEY_VAULT = "Microsoft.KeyVault/vaults"
COSMOS_ACCOUNT = "Microsoft.DocumentDB/databaseAccounts"
APP_INSIGHTS = "Microsoft.Insights/components"
LOG_ANALYTICS = "Microsoft.OperationalInsights/workspaces"
WEB_SITE = "Microsoft.Web/sites"
PUBLISHING_POLICY = "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
BROAD_SCOPES = {"resourceGroup", "subscription", "managementGroup", "tenant", "unknown"}

# Settings the Flex Consumption plan rejects or ignores, from "Flex Consumption plan deprecations"
# in https://learn.microsoft.com/azure/azure-functions/functions-app-settings
FLEX_DEPRECATED_SETTINGS = frozenset(
    {
        "ENABLE_ORYX_BUILD",
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "FUNCTIONS_MAX_HTTP_CONCURRENCY",
        "FUNCTIONS_WORKER_PROCESS_COUNT",
        "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTOVERVNET",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_DNS_SERVER",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
        "WEBSITE_NODE_DEFAULT_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
        "WEBSITE_VNET_ROUTE_ALL",
    }
)
FLEX_DEPRECATED_SITE_CONFIG = frozenset(
    {
        "alwaysOn",
        "ftpsState",
        "functionAppScaleLimit",
        "javaVersion",
        "linuxFxVersion",
        "netFrameworkVersion",
        "powerShellVersion",
        "preWarmedInstanceCount",
        "use32BitWorkerProcess",
        "vnetRouteAllEnabled",
        "windowsFxVersion",
    }
)
# App settings the platform reads rather than the app: identity-based host storage and telemetry.
PLATFORM_SETTING = re.compile(r"^(AzureWebJobsStorage__\w+|APPLICATIONINSIGHTS_[A-Z_]+)$")
PINNED_REGISTRY_MODULE = re.compile(r"^br(/public)?:[^:]+:\d+\.\d+\.\d+$")


# ---- syntax and wiring -----------------------------------------------------------------------------


def syntax(infra: Infra) -> list[str]:
    problems = [error for file in infra.files.values() for error in file.syntax_errors()]
    for name, file in infra.files.items():
        problems += [
            f"{name}:{node.start_point.row + 1}: nested resource declaration; declare it at top level with parent:"
            for node in file.nested_declarations()
        ]
        problems += [
            f"{name}:{node.start_point.row + 1}: `for` loop; the checks do not expand loops, write each out"
            for node in file.looped_declarations()
        ]
    return problems


def module_sources(infra: Infra) -> list[str]:
    """Local module paths point at files that exist; registry modules are pinned to a version."""
    problems = []
    for name, file in infra.files.items():
        for module in file.modules.values():
            where = f"{name}:{module.line}: module {module.symbol}"
            if module.is_local and not file.module_file(module).is_file():
                problems.append(f"{where}: {module.source} does not exist")
            elif not module.is_local and not PINNED_REGISTRY_MODULE.match(module.source):
                problems.append(f"{where}: {module.source} is not pinned to an exact version")
    return problems


def module_params(infra: Infra) -> list[str]:
    """Every param passed to a local module is declared there, and every required one is passed."""
    problems = []
    for name, file in infra.files.items():
        for module in file.modules.values():
            target = infra.module_target(file, module)
            if target is None:
                continue
            where = f"{name}:{module.line}: module {module.symbol} ({module.source})"
            passed, declared = set(module.params), set(target.params)
            problems += [f"{where}: passes undeclared param {p}" for p in sorted(passed - declared)]
            required = {p.name for p in target.params.values() if p.required}
            problems += [f"{where}: does not pass required param {p}" for p in sorted(required - passed)]
    return problems


def module_outputs(infra: Infra) -> list[str]:
    """Every `<module>.outputs.<name>` refers to an output the module declares."""
    problems = []
    for name, file in infra.files.items():
        for symbol, output, line in file.output_references():
            module = file.modules.get(symbol)
            target = None if module is None else infra.module_target(file, module)
            if module is None:
                problems.append(f"{name}:{line}: {symbol}.outputs.{output}: {symbol} is not a module")
            elif target is not None and output not in target.outputs:
                problems.append(f"{name}:{line}: {symbol}.outputs.{output}: {module.source} has no such output")
    return problems


def parameters_file(infra: Infra, path: Path) -> list[str]:
    """main.parameters.json names only declared params, sets every required one, and its azd
    defaults (${VAR=default}) agree with the Bicep defaults and @allowed lists."""
    main = infra.main
    values: dict[str, Any] = json.loads(path.read_text())["parameters"]
    problems = [f"{path.name}: {p} is not a param of main.bicep" for p in sorted(set(values) - set(main.params))]
    required = {p.name for p in main.params.values() if p.required}
    problems += [f"{path.name}: required param {p} is missing" for p in sorted(required - set(values))]
    for name, entry in values.items():
        param = main.params.get(name)
        match = re.fullmatch(r"\$\{(\w+)(?:=(.*))?\}", str(entry.get("value", "")))
        if param is None or match is None or match.group(2) is None:
            continue
        default = match.group(2)
        bicep_default = main.literal(param.default)
        if bicep_default is not None and _as_text(bicep_default) != default:
            problems.append(f"{path.name}: {name} defaults to {default!r}, main.bicep to {_as_text(bicep_default)!r}")
        allowed = param.allowed_values(main)
        if allowed is not None and default not in [_as_text(a) for a in allowed]:
            problems.append(f"{path.name}: {name} default {default!r} is not one of {allowed}")
    return problems


def _as_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


# ---- the function app ----------------------------------------------------------------------------


def function_apps(infra: Infra) -> list[tuple[BicepFile, Resource]]:
    return [(f, r) for f, r in infra.resources_of_type(WEB_SITE) if not r.existing]


def app_settings(file: BicepFile, site: Resource) -> dict[str, Node]:
    """App setting name -> value expression, from siteConfig.appSettings."""
    settings: dict[str, Node] = {}
    array = site.get("properties.siteConfig.appSettings")
    for entry in [] if array is None else array.named_children:
        if entry.type != "object":
            continue
        name = file.literal(_prop(entry, "name"))
        value = _prop(entry, "value")
        if isinstance(name, str) and value is not None:
            settings[name] = value
    return settings


def _prop(node: Node, key: str) -> Node | None:
    return object_properties(node).get(key)


def runtime(infra: Infra) -> list[str]:
    """The app runs Python on Flex Consumption, and sets nothing Flex rejects."""
    problems = []
    sites = function_apps(infra)
    if not sites:
        return ["no Microsoft.Web/sites resource found"]
    for file, site in sites:
        where = f"{file.path.name}: {site.symbol}"
        name = file.literal(site.get("properties.functionAppConfig.runtime.name"))
        if name != "python":
            problems.append(f"{where}: functionAppConfig.runtime.name is {name!r}, not 'python'")
        if file.literal(site.get("kind")) != "functionapp,linux":
            problems.append(f"{where}: kind is not 'functionapp,linux'")
        deprecated = FLEX_DEPRECATED_SETTINGS & set(app_settings(file, site))
        problems += [f"{where}: app setting {s} is not allowed on Flex Consumption" for s in sorted(deprecated)]
        site_config = site.get("properties.siteConfig")
        config_keys = set() if site_config is None else set(object_properties(site_config))
        problems += [
            f"{where}: siteConfig.{p} is deprecated on Flex Consumption"
            for p in sorted(FLEX_DEPRECATED_SITE_CONFIG & config_keys)
        ]
    for file, plan in infra.resources_of_type("Microsoft.Web/serverfarms"):
        if file.literal(plan.get("sku.name")) != "FC1":
            problems.append(f"{file.path.name}: {plan.symbol} is not the Flex Consumption (FC1) plan")
    return problems


def settings_coverage(infra: Infra, required: Iterable[str], known: Iterable[str]) -> list[str]:
    """The app settings include every setting the app requires, and every app-level name is one the
    app reads (a typo would otherwise deploy fine and fail on the first request)."""
    problems = []
    for file, site in function_apps(infra):
        names = set(app_settings(file, site))
        where = f"{file.path.name}: {site.symbol}"
        problems += [f"{where}: missing app setting {s}" for s in sorted(set(required) - names)]
        unknown = {n for n in names if not PLATFORM_SETTING.match(n)} - set(known)
        problems += [f"{where}: app setting {s} is not read by the app" for s in sorted(unknown)]
    return problems


def identity_wiring(infra: Infra) -> list[str]:
    """The app, its host storage and its deployment package all use the user-assigned identity."""
    problems = []
    for file, site in function_apps(infra):
        where = f"{file.path.name}: {site.symbol}"
        settings = app_settings(file, site)
        if file.literal(site.get("identity.type")) != "UserAssigned":
            problems.append(f"{where}: identity.type is not UserAssigned")
        auth = site.get("properties.functionAppConfig.deployment.storage.authentication")
        if auth is None or file.literal(_prop(auth, "type")) != "UserAssignedIdentity":
            problems.append(f"{where}: the deployment package is not read with the user-assigned identity")
        if "AzureWebJobsStorage" in settings:
            problems.append(f"{where}: AzureWebJobsStorage is a connection string; use AzureWebJobsStorage__* settings")
        expected = {
            "AzureWebJobsStorage__credential": "managedidentity",
            "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
        }
        for name, value in expected.items():
            if file.literal(settings.get(name)) != value:
                problems.append(f"{where}: {name} must be {value!r}")
        client_ids = {name: settings.get(name) for name in ("AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID")}
        for name, node in client_ids.items():
            if node is None or text(node) != "identityClientId":
                problems.append(f"{where}: {name} must be the identity's client ID (identityClientId)")
        for service in ("blob", "queue", "table"):
            if f"AzureWebJobsStorage__{service}ServiceUri" not in settings:
                problems.append(f"{where}: AzureWebJobsStorage__{service}ServiceUri is missing")
        auth_string = settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")
        if auth_string is None or "Authorization=AAD" not in text(auth_string):
            problems.append(f"{where}: APPLICATIONINSIGHTS_AUTHENTICATION_STRING must select Entra ID (AAD)")
    return problems


# ---- role assignments ----------------------------------------------------------------------------


def grants_of(infra: Infra, principal: str) -> list[Grant]:
    return [g for g in infra.grants() if g.principal == principal]


def grant_set(infra: Infra, principal: str, expected: set[Triple]) -> list[str]:
    """The principal has exactly the expected (role, scope type, scope) assignments."""
    actual = [(g.role_id, g.scope_type, g.scope_name) for g in grants_of(infra, principal)]
    problems = [f"{principal}: duplicate assignment {t}" for t in sorted({t for t in actual if actual.count(t) > 1})]
    problems += [f"{principal}: missing {t}" for t in sorted(expected - set(actual))]
    problems += [f"{principal}: unexpected {t}" for t in sorted(set(actual) - expected)]
    return problems


def grant_locations(infra: Infra, home: str, principals: set[str]) -> list[str]:
    """All permissions live in one file and go to known principals, so reviewing that file (and
    grant_set) really covers every role in the deployment."""
    problems = []
    for name, file in infra.files.items():
        for g in file.grants():
            if name != home:
                problems.append(f"{name}: {g.symbol} assigns a role outside {home}")
            if g.principal not in principals:
                problems.append(f"{name}: {g.symbol} grants to {g.principal!r}, not one of {sorted(principals)}")
    return problems


def no_broad_scopes(infra: Infra) -> list[str]:
    return [
        f"{g.file}: {g.symbol} grants {g.role_id} at {g.scope_type} scope {g.scope_name}".rstrip()
        for g in infra.grants()
        if g.scope_type in BROAD_SCOPES
    ]


def principal_types(infra: Infra) -> list[str]:
    """Azure RBAC assignments state a principalType, and never the literal 'User': a hard-coded
    'User' makes provisioning fail whenever a service principal (CI) is the developer."""
    problems = []
    for file in infra.files.values():
        for g in file.grants():
            resource = file.resources[g.symbol]
            if resource.type != ROLE_ASSIGNMENT:
                continue
            if g.principal_type is None:
                problems.append(f"{g.file}: {g.symbol} has no principalType")
            elif file.literal(g.principal_type) == "User":
                problems.append(f"{g.file}: {g.symbol} hard-codes principalType 'User'")
    return problems


def grant_names(infra: Infra) -> list[str]:
    """Each assignment is named guid(<scope>.id, ..., principal, role): deterministic, so a
    redeployment updates the same assignment, and unique per scope, principal and role."""
    problems = []
    for file in infra.files.values():
        for g in file.grants():
            resource = file.resources[g.symbol]
            args = [text(a) for a in call_arguments(g.name)] if call_name(g.name) == "guid" else []
            scope = resource.get("scope")
            if scope is None:
                scope = resource.get("parent")
            scope_id = "<scope>.id" if scope is None else f"{text(scope)}.id"
            role = resource.get("properties.roleDefinitionId")
            role_ref = _role_reference(file, role)
            if not args or scope_id not in args or g.principal not in args or role_ref not in args:
                problems.append(f"{g.file}: {g.symbol} name is not guid({scope_id}, {g.principal}, <role id>)")
    return problems


def _role_reference(file: BicepFile, role: Node | None) -> str:
    """The expression that names the role id inside roleDefinitionId, as written."""
    if role is None:
        return "?"
    if call_name(role) is not None:
        return text(call_arguments(role)[-1])
    expressions = [text(child.named_children[0]) for child in role.named_children if child.type == "interpolation"]
    return expressions[-1] if expressions else text(role)


# ---- resource properties -------------------------------------------------------------------------


def _require(infra: Infra, resource_type: str, expected: dict[str, Any]) -> list[str]:
    """Every resource of the type (declared here, not `existing`) has these literal property values."""
    problems = []
    for file, resource in infra.resources_of_type(resource_type):
        if resource.existing:
            continue
        for path, value in expected.items():
            actual = file.literal(resource.get(path))
            if actual != value:
                problems.append(f"{file.path.name}: {resource.symbol}.{path} is {actual!r}, must be {value!r}")
    return problems


def storage_accounts(infra: Infra) -> list[str]:
    return _require(
        infra,
        STORAGE_ACCOUNT,
        {
            "properties.allowSharedKeyAccess": False,
            "properties.allowBlobPublicAccess": False,
            "properties.minimumTlsVersion": "TLS1_2",
            "properties.supportsHttpsTrafficOnly": True,
            "properties.defaultToOAuthAuthentication": True,
        },
    )


def key_vaults(infra: Infra) -> list[str]:
    problems = _require(
        infra,
        KEY_VAULT,
        {
            "properties.enableRbacAuthorization": True,
            "properties.enableSoftDelete": True,
            "properties.enablePurgeProtection": True,
        },
    )
    for file, vault in infra.resources_of_type(KEY_VAULT):
        if not vault.existing and vault.get("properties.accessPolicies") is not None:
            problems.append(f"{file.path.name}: {vault.symbol} declares access policies; use role assignments")
    return problems


def local_auth(infra: Infra) -> list[str]:
    """Key-based access is off on every data service: only Entra ID tokens get in."""
    return (
        _require(infra, COSMOS_ACCOUNT, {"properties.disableLocalAuth": True})
        + _require(infra, APP_INSIGHTS, {"properties.DisableLocalAuth": True})
        + _require(infra, LOG_ANALYTICS, {"properties.features.disableLocalAuth": True})
        + [
            f"{f.path.name}: {n.start_point.row + 1}: listKeys() puts a key in the deployment"
            for f, n in _list_keys(infra)
        ]
    )


def _list_keys(infra: Infra) -> list[tuple[BicepFile, Node]]:
    return [
        (file, node)
        for file in infra.files.values()
        for name in ("listKeys", "listConnectionStrings", "listAccountSas", "listServiceSas")
        for node in file.calls(name)
    ]


def web_apps(infra: Infra) -> list[str]:
    """HTTPS only, TLS 1.2, and no FTP/SCM username-password publishing."""
    problems = _require(infra, WEB_SITE, {"properties.httpsOnly": True, "properties.siteConfig.minTlsVersion": "1.2"})
    for file, site in function_apps(infra):
        disabled = {
            file.literal(policy.get("name"))
            for policy in file.resources.values()
            if policy.type == PUBLISHING_POLICY
            and _parent_symbol(policy) == site.symbol
            and file.literal(policy.get("properties.allow")) is False
        }
        problems += [
            f"{file.path.name}: {site.symbol} does not disable {kind} basic publishing credentials"
            for kind in sorted({"ftp", "scm"} - disabled)
        ]
    return problems


def _parent_symbol(resource: Resource) -> str | None:
    parent = resource.get("parent")
    return None if parent is None else text(parent)
