"""The project's infrastructure rules: each takes an Infra and returns its problems (empty = fine).

Tests run every rule on infra/ and expect no problems, then run it on a deliberately broken copy
to show it catches the mistake it exists for. Rules read the syntax tree through
infra_model.syntax; they never trust a comment or a file name.

Rules about private networking (main.bicep's vnetEnabled) evaluate main.bicep in both modes through
infra_model.deployment instead, because what they check (which endpoint serves which account, which
zone holds its record, which network that zone answers in) only exists once ids are resolved.

The app runs as a user-assigned identity or as the site's system identity (main.bicep's
appIdentityType). Each file that depends on the choice derives `useSystemIdentity` from its
identity-type param; rules that care read the Bicep once per identity kind, resolving ternaries on
that variable as ARM's if() would (`in_kind`), so both kinds are checked from the same source.

Rules state requirements, never this template's values: a name is checked against Azure's naming
rule (infra_model.naming), a container against the app setting that names it, a default against the
other default it must agree with. Renaming a resource in infra/ therefore passes every rule
(test_renames.py proves it), and each problem is one line that says what is wrong and what to do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devstack.declaration import Declaration
from devstack.declaration import Resource as DeclaredResource
from infra_model.deployment import Context, DeployedResource, Deployment, Principal, load
from infra_model.naming import assigned_by_azure, check_names, secret_name_problem
from infra_model.resources import BLOB_CONTAINER, COSMOS_SQL_CONTAINER, AppResources, app_resources
from infra_model.syntax import (
    COSMOS_SCOPE_TYPES,
    ROLE_ASSIGNMENT,
    BicepFile,
    Grant,
    Infra,
    Module,
    Node,
    Resource,
    call_arguments,
    call_name,
    object_properties,
    text,
)

Triple = tuple[str, str, str]  # (role definition id, scope type, scope name)

STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"
COSMOS_ROLE_DEFINITION = "Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions"
COSMOS_CONTAINER_SCOPE = COSMOS_SCOPE_TYPES["colls"]
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
# Read by the Functions host and worker, not by inbox/settings.py.
PLATFORM_SETTING = re.compile(r"^(AzureWebJobsStorage__\w+|APPLICATIONINSIGHTS_[A-Z_]+|PYTHON_ENABLE_OPENTELEMETRY)$")
PINNED_REGISTRY_MODULE = re.compile(r"^br(/public)?:[^:]+:\d+\.\d+\.\d+$")

# The identity kinds (the @allowed values of every identity-type param), and the value the switch
# variable has in each.
SWITCH = "useSystemIdentity"
IDENTITY_KINDS = {"UserAssigned": False, "SystemAssigned": True}
# Where function-app.bicep names the identity: the package's authentication, the client ID settings
# (user-assigned only), and the telemetry authentication string of a user-assigned identity.
PACKAGE_AUTH = "properties.functionAppConfig.deployment.storage.authentication"
CLIENT_ID_SETTINGS = ("AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID")
USER_TELEMETRY_AUTH = "ClientId=${identityClientId};Authorization=AAD"


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
        problems += [
            f"{name}:{node.start_point.row + 1}: tree-sitter-bicep reads {text(node)[:50]!r} as "
            "`(c ? a : b).x`; put the member access in the first branch or in parentheses"
            for node in _postfix_on_ternary(file)
        ]
    return problems


def _postfix_on_ternary(file: BicepFile) -> list[Node]:
    """`c ? a : b.x` (or `b[0]`, `b.f()`) as tree-sitter-bicep 1.1 parses it: the member access
    applied to the whole ternary, which is not what Bicep means and not what any check should read."""
    postfix = {"member_expression", "subscript_expression", "call_expression"}
    return [n for n in _walk(file.root) if n.type in postfix and n.named_children[0].type == "ternary_expression"]


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
            problems.append(
                f"{path.name}: {name} defaults to {default!r}, main.bicep to {_as_text(bicep_default)!r}; "
                f"make them the same (azd deploys the file's default, a deployment without azd main.bicep's)"
            )
        allowed = param.allowed_values(main)
        if allowed is not None and default not in [_as_text(a) for a in allowed]:
            problems.append(
                f"{path.name}: {name} default {default!r} is not one of {allowed}; use one of those, "
                "or allow it in main.bicep"
            )
    return problems


def _as_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


# ---- the function app ----------------------------------------------------------------------------


def function_apps(infra: Infra) -> list[tuple[BicepFile, Resource]]:
    return [(f, r) for f, r in infra.resources_of_type(WEB_SITE) if not r.existing]


class Unreadable(ValueError):
    """An app settings expression these rules cannot expand into name/value entries."""


def app_settings(file: BicepFile, site: Resource, *, system: bool) -> dict[str, Node]:
    """App setting name -> value expression for one identity kind, from siteConfig.appSettings:
    an array of {name, value} objects, or concat() of such arrays (directly or through variables
    and ternaries on useSystemIdentity). Raises Unreadable for anything else."""
    settings: dict[str, Node] = {}
    array = site.get("properties.siteConfig.appSettings")
    for entry in [] if array is None else _setting_entries(file, array, system):
        name = file.literal(_prop(entry, "name"))
        value = _prop(entry, "value")
        if not isinstance(name, str) or value is None:
            raise Unreadable(text(entry))
        settings[name] = in_kind(file, value, system)
    return settings


def _setting_entries(file: BicepFile, node: Node, system: bool) -> Iterator[Node]:
    node = in_kind(file, node, system)
    if node.type == "array":
        for entry in node.named_children:
            if entry.type == "comment":
                continue
            if entry.type != "object":
                raise Unreadable(text(entry))
            yield entry
    elif call_name(node) == "concat":
        for argument in call_arguments(node):
            yield from _setting_entries(file, argument, system)
    else:
        raise Unreadable(text(node))


def settings_by_kind(file: BicepFile, site: Resource) -> tuple[dict[str, dict[str, Node]], list[str]]:
    """The site's app settings in each identity kind, and a problem for each kind it cannot read."""
    by_kind: dict[str, dict[str, Node]] = {}
    problems = []
    for kind, system in IDENTITY_KINDS.items():
        try:
            by_kind[kind] = app_settings(file, site, system=system)
        except Unreadable as error:
            problems.append(
                f"{file.path.name}: {site.symbol} ({kind}): cannot read app setting(s) {str(error)[:80]!r}; "
                "write {name, value} objects in arrays, joined with concat()"
            )
    return by_kind, problems


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
        by_kind, unreadable = settings_by_kind(file, site)
        problems += unreadable
        deprecated = FLEX_DEPRECATED_SETTINGS & {name for settings in by_kind.values() for name in settings}
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
    """With either identity kind, the app settings include every setting the app requires, and
    every app-level name is one the app reads (a typo would otherwise deploy fine and fail on the
    first request)."""
    problems = []
    for file, site in function_apps(infra):
        by_kind, unreadable = settings_by_kind(file, site)
        problems += unreadable
        for kind, settings in by_kind.items():
            names = set(settings)
            where = f"{file.path.name}: {site.symbol} ({kind})"
            problems += [f"{where}: missing app setting {s}" for s in sorted(set(required) - names)]
            unknown = {n for n in names if not PLATFORM_SETTING.match(n)} - set(known)
            problems += [f"{where}: app setting {s} is not read by the app" for s in sorted(unknown)]
    return problems


def identity_wiring(infra: Infra) -> list[str]:
    """In each identity kind the site, its host storage, its deployment package, its telemetry and
    azure-identity all use the same identity: the user-assigned one by its resource and client ID
    (identityId, identityClientId), or the system one, with no client ID anywhere (absent, which
    the host and azure-identity read as "system-assigned")."""
    problems = []
    for file, site in function_apps(infra):
        by_kind, unreadable = settings_by_kind(file, site)
        problems += unreadable
        for kind, settings in by_kind.items():
            where = f"{file.path.name}: {site.symbol} ({kind})"
            problems += _identity_in_kind(file, site, settings, IDENTITY_KINDS[kind], where)
            problems += _platform_identity_settings(settings, where)
    return problems


def _identity_in_kind(
    file: BicepFile, site: Resource, settings: dict[str, Node], system: bool, where: str
) -> list[str]:
    kind = "SystemAssigned" if system else "UserAssigned"
    identity_type = file.literal(lookup_in_kind(file, site.body, "identity.type", system))
    problems = [] if identity_type == kind else [f"{where}: identity.type is {identity_type!r}, not {kind!r}"]
    principal = file.outputs.get("principalId")
    wiring = _Wiring(
        attached=lookup_in_kind(file, site.body, "identity.userAssignedIdentities", system),
        package_auth=file.literal(lookup_in_kind(file, site.body, f"{PACKAGE_AUTH}.type", system)),
        package_identity=lookup_in_kind(file, site.body, f"{PACKAGE_AUTH}.userAssignedIdentityResourceId", system),
        telemetry_auth=settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING"),
        principal=None if principal is None else in_kind(file, principal.value, system),
    )
    check = _system_identity_wiring if system else _user_identity_wiring
    return problems + check(file, site, settings, wiring, where)


@dataclass(frozen=True)
class _Wiring:
    """The expressions that name an identity, read for one kind."""

    attached: Node | None  # identity.userAssignedIdentities
    package_auth: Any  # functionAppConfig.deployment.storage.authentication.type
    package_identity: Node | None  # ...authentication.userAssignedIdentityResourceId
    telemetry_auth: Node | None  # APPLICATIONINSIGHTS_AUTHENTICATION_STRING
    principal: Node | None  # the module's principalId output


def _system_identity_wiring(
    file: BicepFile, site: Resource, settings: dict[str, Node], wiring: _Wiring, where: str
) -> list[str]:
    problems = []
    if not _absent(wiring.attached):
        problems.append(f"{where}: identity.userAssignedIdentities attaches an identity")
    if wiring.package_auth != "SystemAssignedIdentity" or not _absent(wiring.package_identity):
        problems.append(f"{where}: the deployment package is not read with the system identity")
    problems += [
        f"{where}: {name} must be absent: the system identity has no client ID"
        for name in CLIENT_ID_SETTINGS
        if name in settings
    ]
    if wiring.telemetry_auth is None or _literal(wiring.telemetry_auth) != "Authorization=AAD":
        problems.append(f"{where}: APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'Authorization=AAD'")
    if wiring.principal is None or text(wiring.principal) != f"{site.symbol}.identity.principalId":
        problems.append(f"{where}: output principalId must be {site.symbol}.identity.principalId")
    return problems


def _user_identity_wiring(
    file: BicepFile, site: Resource, settings: dict[str, Node], wiring: _Wiring, where: str
) -> list[str]:
    problems = []
    attached = wiring.attached
    keys = [] if attached is None or attached.type != "object" else list(object_properties(attached))
    if keys != ["${identityId}"]:
        problems.append(f"{where}: identity.userAssignedIdentities must attach exactly identityId")
    package_identity = wiring.package_identity
    if (
        wiring.package_auth != "UserAssignedIdentity"
        or package_identity is None
        or text(package_identity) != "identityId"
    ):
        problems.append(f"{where}: the deployment package is not read with the user-assigned identity")
    for name in CLIENT_ID_SETTINGS:
        node = settings.get(name)
        if node is None or text(node) != "identityClientId":
            problems.append(f"{where}: {name} must be the identity's client ID (identityClientId)")
    if wiring.telemetry_auth is None or file.render(wiring.telemetry_auth) != USER_TELEMETRY_AUTH:
        problems.append(f"{where}: APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be {USER_TELEMETRY_AUTH!r}")
    if wiring.principal is None or _literal(wiring.principal) != "":
        problems.append(f"{where}: output principalId must be empty: the site has no identity of its own")
    return problems


def _platform_identity_settings(settings: dict[str, Node], where: str) -> list[str]:
    """What both kinds share: identity-based host storage and managed-identity-only azure-identity."""
    problems = []
    if "AzureWebJobsStorage" in settings:
        problems.append(f"{where}: AzureWebJobsStorage is a connection string; use AzureWebJobsStorage__* settings")
    expected = {
        "AzureWebJobsStorage__credential": "managedidentity",
        "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
    }
    for name, value in expected.items():
        if settings.get(name) is None or _literal(settings[name]) != value:
            problems.append(f"{where}: {name} must be {value!r}")
    for service in ("blob", "queue", "table"):
        if f"AzureWebJobsStorage__{service}ServiceUri" not in settings:
            problems.append(f"{where}: AzureWebJobsStorage__{service}ServiceUri is missing")
    return problems


def _literal(node: Node) -> Any:
    """A plain string literal's value (in_kind has already followed variables); None otherwise."""
    if node.type != "string" or any(c.type == "interpolation" for c in node.named_children):
        return None
    return "".join(text(c) for c in node.named_children)


def _absent(node: Node | None) -> bool:
    return node is None or node.type == "null"


# ---- identity kinds: reading the Bicep as one kind deploys it -------------------------------------


def in_kind(file: BicepFile, node: Node, system: bool) -> Node:
    """The expression `node` amounts to in one identity kind: variables followed, and ternaries on
    useSystemIdentity (or its negation) resolved to the branch ARM's if() would take. Any other
    expression is returned as it is."""
    while True:
        if node.type == "parenthesized_expression":
            node = node.named_children[0]
        elif node.type == "identifier" and text(node) != SWITCH and text(node) in file.variables:
            node = file.variables[text(node)]
        elif node.type == "ternary_expression":
            condition, when_true, when_false = node.named_children
            chosen = switch_value(condition, system)
            if chosen is None:
                return node
            node = when_true if chosen else when_false
        else:
            return node


def lookup_in_kind(file: BicepFile, node: Node, path: str, system: bool) -> Node | None:
    """lookup() of a dotted property path, resolving each step with in_kind()."""
    current = in_kind(file, node, system)
    for key in path.split("."):
        if current.type != "object":
            return None
        found = object_properties(current).get(key)
        if found is None:
            return None
        current = in_kind(file, found, system)
    return current


def switch_value(condition: Node, system: bool) -> bool | None:
    """The value of `useSystemIdentity`, `!useSystemIdentity` (or parenthesised) in one kind; None
    for any other condition."""
    if condition.type == "parenthesized_expression":
        return switch_value(condition.named_children[0], system)
    if condition.type == "identifier" and text(condition) == SWITCH:
        return system
    if condition.type == "unary_expression" and condition.children[0].type == "!":
        inner = switch_value(condition.named_children[0], system)
        return None if inner is None else not inner
    return None


def module_condition(file: BicepFile, module: Module) -> Node | None:
    """The condition of `module x '...' = if (<condition>) {...}`, or None when it always deploys."""
    for node in file.root.named_children:
        if node.type == "module_declaration" and node.start_point.row + 1 == module.line:
            last = node.named_children[-1]
            return last.named_children[0] if last.type == "if_statement" else None
    return None


def deployed_in(file: BicepFile, module: Module, system: bool) -> bool | None:
    """Whether the module deploys in one kind: True/False, or None when its condition is not the switch."""
    condition = module_condition(file, module)
    return True if condition is None else switch_value(condition, system)


def identity_switch(infra: Infra) -> list[str]:
    """Every file that branches on useSystemIdentity derives it the same way, from a param that
    allows exactly the two kinds, so `in_kind` reads each file as a deployment would."""
    problems = []
    for name, file in infra.files.items():
        definition = file.variables.get(SWITCH)
        if definition is None:
            continue
        param = _switch_param(file, definition)
        if param is None:
            problems.append(f"{name}: {SWITCH} must be `<identity type param> == 'SystemAssigned'`")
            continue
        allowed = file.params[param].allowed_values(file)
        if allowed is None or sorted(allowed) != sorted(IDENTITY_KINDS):
            problems.append(f"{name}: param {param} must allow exactly {sorted(IDENTITY_KINDS)}, not {allowed}")
    return problems


def _switch_param(file: BicepFile, definition: Node) -> str | None:
    if definition.type != "binary_expression" or len(definition.named_children) != 2:
        return None
    left, right = definition.named_children
    operator = [c.type for c in definition.children if not c.is_named]
    if operator != ["=="] or left.type != "identifier" or text(left) not in file.params:
        return None
    return text(left) if file.literal(right) == "SystemAssigned" else None


def identity_modules(infra: Infra, *, access: str, identity: str, function_app: str) -> list[str]:
    """main.bicep wires each kind consistently: the identity module only for a user-assigned
    identity; exactly one access module per kind, granting to that kind's principal (the identity
    module's, or the site's); the function app told the kind, the identity's ids only when it is
    user-assigned, and created after the user-assigned identity's roles."""
    main = infra.main
    problems = identity_switch(infra)
    param = main.params.get("appIdentityType")
    if param is None or main.literal(param.default) != "UserAssigned":
        problems.append("main.bicep: param appIdentityType must default to 'UserAssigned'")
    identities = _modules_from(main, identity)
    apps = _modules_from(main, function_app)
    if len(identities) != 1 or len(apps) != 1:
        return [*problems, f"main.bicep: expected one {identity} and one {function_app} module"]
    (identity_module,), (app,) = identities, apps
    id_ref, app_ref = identity_module.symbol, app.symbol
    if module_condition(main, app) is not None:
        problems.append(f"main.bicep: {app_ref} must always deploy")
    kind_param = app.params.get("identityType")
    if kind_param is None or text(kind_param) != "appIdentityType":
        problems.append(f"main.bicep: {app_ref} must pass identityType: appIdentityType")
    for kind, system in IDENTITY_KINDS.items():
        where = f"main.bicep ({kind})"
        if deployed_in(main, identity_module, system) != (not system):
            problems.append(f"{where}: {id_ref} must deploy only for a user-assigned identity")
        deployed = [m for m in _modules_from(main, access) if deployed_in(main, m, system)]
        if len(deployed) != 1:
            problems.append(f"{where}: {len(deployed)} {access} modules deploy, not exactly one")
            continue
        grants = deployed[0]
        principal = grants.params.get("appPrincipalId")
        expected = f"{app_ref}.outputs.principalId" if system else f"{id_ref}.outputs.principalId"
        actual = None if principal is None else text(in_kind(main, principal, system))
        if actual != expected:
            problems.append(f"{where}: {grants.symbol} grants the app's roles to {actual}, not {expected}")
        if not system and grants.symbol not in app.depends_on:
            problems.append(f"{where}: {app_ref} does not depend on {grants.symbol}, so it may start without its roles")
        for name, output in (("identityId", "id"), ("identityClientId", "clientId")):
            node = app.params.get(name)
            value = None if node is None else in_kind(main, node, system)
            wanted = "''" if system else f"{id_ref}.outputs.{output}"
            if value is None or text(value) != wanted:
                problems.append(f"{where}: {app_ref} must pass {name}: {wanted}")
        client_id = main.outputs.get("AZURE_APP_IDENTITY_CLIENT_ID")
        wanted = "''" if system else f"{id_ref}.outputs.clientId"
        if client_id is None or text(in_kind(main, client_id.value, system)) != wanted:
            problems.append(f"{where}: output AZURE_APP_IDENTITY_CLIENT_ID must be {wanted}")
    return problems


def _modules_from(file: BicepFile, source: str) -> list[Module]:
    return [m for m in file.modules.values() if m.source == source]


def guarded_outputs(infra: Infra) -> list[str]:
    """Every `<module>.outputs.<name>` of a conditionally deployed module is read behind a ternary on
    the same condition: ARM evaluates the reference even when the module is not deployed
    ("Conditional deployment in ARM templates"), and the deployment fails."""
    problems = []
    for name, file in infra.files.items():
        conditions = {
            symbol: _normalised(condition)
            for symbol, module in file.modules.items()
            if (condition := module_condition(file, module)) is not None
        }
        for node in _walk(file.root):
            owner = _outputs_owner(node)
            if owner is None or owner not in conditions:
                continue
            if not _guarded(node, conditions[owner]):
                line = node.start_point.row + 1
                problems.append(f"{name}:{line}: {text(node)} is read outside a ternary on ({conditions[owner]})")
    return problems


def _outputs_owner(node: Node) -> str | None:
    """'m' for a member expression `m.outputs.x`."""
    if node.type != "member_expression":
        return None
    inner = node.child_by_field_name("object")
    if inner is None or inner.type != "member_expression":
        return None
    owner, middle = inner.child_by_field_name("object"), inner.child_by_field_name("property")
    if owner is None or middle is None or owner.type != "identifier" or text(middle) != "outputs":
        return None
    return text(owner)


def _guarded(node: Node, condition: str) -> bool:
    child, parent = node, node.parent
    while parent is not None:
        if parent.type == "ternary_expression":
            test, when_true, _when_false = parent.named_children
            chosen = _normalised(test)
            if child == when_true and chosen == condition:
                return True
            if child not in (when_true, test) and _negated(chosen) == condition:
                return True
        child, parent = parent, parent.parent
    return False


def _normalised(condition: Node) -> str:
    while condition.type == "parenthesized_expression":
        condition = condition.named_children[0]
    return re.sub(r"\s+", "", text(condition))


def _negated(condition: str) -> str:
    return condition[1:] if condition.startswith("!") else f"!{condition}"


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


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


def cosmos_custom_roles(infra: Infra, home: str, needed: Iterable[str]) -> list[str]:
    """Each custom Cosmos DB data-plane role (sqlRoleDefinitions) lives in `home`, is a named
    CustomRole with a deterministic guid() name, grants exactly the data actions in `needed` (no
    more, no wildcards), and can be assigned only where it is assigned, at a container."""
    problems = []
    wanted = set(needed)
    for name, file in infra.files.items():
        for role in file.resources.values():
            if role.type != COSMOS_ROLE_DEFINITION or role.existing:
                continue
            where = f"{name}: {role.symbol}"
            if name != home:
                problems.append(f"{where}: defines a role outside {home}")
            if file.literal(role.get("properties.type")) != "CustomRole":
                problems.append(f"{where}: properties.type must be 'CustomRole'")
            if not file.literal(role.get("properties.roleName")):
                problems.append(f"{where}: needs a roleName (unique in the account)")
            problems += _deterministic_name(role, where)
            problems += _exact_data_actions(file, role, wanted, where)
            problems += _assignable_where_assigned(file, role, where)
    return problems


def _deterministic_name(role: Resource, where: str) -> list[str]:
    name = role.get("name")
    calls = {call_name(n) for n in _walk(name) if n.type == "call_expression"} if name is not None else set()
    if name is None or call_name(name) != "guid" or calls & {"newGuid", "utcNow"}:
        return [f"{where}: name must be guid(...) of stable values: it is the role's id, and must not change"]
    return []


def _exact_data_actions(file: BicepFile, role: Resource, wanted: set[str], where: str) -> list[str]:
    permissions = file.literal(role.get("properties.permissions"))
    if not isinstance(permissions, list) or not all(isinstance(p, dict) for p in permissions):
        return [f"{where}: properties.permissions must be literal {{dataActions: [...]}} entries"]
    granted = [action for p in permissions for action in p.get("dataActions", [])]
    problems = [f"{where}: {a} is a wildcard; list the actions the app performs" for a in granted if "*" in a]
    problems += [
        f"{where}: grants {a}, which the app does not perform (inbox.permissions)"
        for a in sorted(set(granted) - wanted)
        if "*" not in a
    ]
    missing = sorted(wanted - set(granted))
    problems += [f"{where}: lacks {a}, which the app performs (inbox.permissions)" for a in missing]
    return problems


def _assignable_where_assigned(file: BicepFile, role: Resource, where: str) -> list[str]:
    assignments = [g for g in file.grants() if g.role_id == f"{role.symbol}.id"]
    if not assignments:
        return [f"{where}: is never assigned"]
    problems = [
        f"{where}: assigned at {g.scope_type} {g.scope_name} by {g.symbol}, not at a container"
        for g in assignments
        if g.scope_type != COSMOS_CONTAINER_SCOPE
    ]
    scopes = role.get("properties.assignableScopes")
    assignable = set() if scopes is None else {text(n) for n in scopes.named_children if n.type != "comment"}
    assigned = {text(s) for g in assignments if (s := file.resources[g.symbol].get("properties.scope")) is not None}
    if assignable != assigned:
        problems.append(
            f"{where}: assignableScopes {sorted(assignable)} must be exactly where it is assigned {sorted(assigned)}"
        )
    return problems


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


# ---- private networking (vnetEnabled), both modes --------------------------------------------------

VNET_SWITCH = "vnetEnabled"
VIRTUAL_NETWORK = "Microsoft.Network/virtualNetworks"
PRIVATE_ENDPOINT = "Microsoft.Network/privateEndpoints"
ZONE_GROUP = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"
PRIVATE_DNS_ZONE = "Microsoft.Network/privateDnsZones"
ZONE_LINK = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
# Flex Consumption's VNet integration needs a subnet delegated to this, and to nothing else
# ("Azure Functions Flex Consumption plan hosting", Considerations).
FLEX_DELEGATION = "Microsoft.App/environments"
# The private DNS zone Microsoft names for each private-link group id the app uses, public cloud
# ("Azure Private Endpoint DNS configuration", Azure services DNS zone configuration).
PRIVATE_DNS_ZONES = {
    "blob": "privatelink.blob.core.windows.net",
    "queue": "privatelink.queue.core.windows.net",
    "table": "privatelink.table.core.windows.net",
    "vault": "privatelink.vaultcore.azure.net",
    "Sql": "privatelink.documents.azure.com",
}
# Public network access off, per resource type, as each service's ARM schema spells it.
PUBLIC_ACCESS_OFF = {
    STORAGE_ACCOUNT: {"publicNetworkAccess": "Disabled", "networkAcls.defaultAction": "Deny"},
    KEY_VAULT: {"publicNetworkAccess": "Disabled", "networkAcls.defaultAction": "Deny"},
    COSMOS_ACCOUNT: {"publicNetworkAccess": "Disabled"},
}
_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
_PARAMETERS = {"environmentName": "rules", "location": "westeurope", "principalId": "developer"}


def evaluate(infra: Infra, **parameters: Any) -> Deployment:
    """main.bicep as a deployment with these parameter values would create it."""
    context = Context(_SUBSCRIPTION, "tenant", lambda _id, kind: Principal(f"{kind}-principal", "client", "tenant"))
    return load(infra.root, {**_PARAMETERS, **parameters}, context)


def private_networking(infra: Infra) -> list[str]:
    """With vnetEnabled off nothing of a network is deployed. With it on: the site is integrated into a
    subnet delegated to Microsoft.App/environments; every data-plane endpoint the app's settings name
    has a private endpoint in another subnet of that VNet, with a DNS zone group writing its record
    into Microsoft's zone for its group id, and that zone is linked to the VNet; and every account the
    app uses has public network access off."""
    problems = []
    for enabled in (False, True):
        where = f"{VNET_SWITCH}={'true' if enabled else 'false'}"
        try:
            deployment = evaluate(infra, **{VNET_SWITCH: enabled})
            resources = app_resources(deployment)
        except (ValueError, KeyError) as error:
            problems.append(f"{where}: main.bicep does not evaluate: {error}")
            continue
        check = _private_mode if enabled else _public_mode
        problems += [f"{where}: {p}" for p in check(deployment, resources)]
    return problems


def _public_mode(deployment: Deployment, resources: AppResources) -> list[str]:
    network = [r for r in deployment.resources if r.type.lower().startswith("microsoft.network/")]
    problems = [f"deploys {r.type} {r.name} ({r.source})" for r in network]
    if resources.site.properties.get("virtualNetworkSubnetId"):
        problems.append("the function app is integrated into a VNet")
    return problems


def _private_mode(deployment: Deployment, resources: AppResources) -> list[str]:
    vnets = deployment.of_type(VIRTUAL_NETWORK)
    if len(vnets) != 1:
        return [f"{len(vnets)} virtual networks are deployed, not one"]
    (vnet,) = vnets
    integration = str(resources.site.properties.get("virtualNetworkSubnetId") or "")
    problems = _integration_subnet(vnet, integration)
    for needed in _private_endpoints_needed(resources):
        problems += _endpoint(deployment, vnet, integration, needed)
    problems += _public_access_off(deployment, resources)
    return problems


def _subnets(vnet: DeployedResource) -> dict[str, Any]:
    """Subnet id -> its properties, for subnets declared inline in the VNet."""
    return {f"{vnet.id}/subnets/{s['name']}": s.get("properties", {}) for s in vnet.properties.get("subnets", [])}


def _integration_subnet(vnet: DeployedResource, subnet_id: str) -> list[str]:
    subnet = _subnets(vnet).get(subnet_id)
    if subnet is None:
        return [f"the function app's virtualNetworkSubnetId {subnet_id or '(none)'} is not a subnet of {vnet.name}"]
    services = [d.get("properties", {}).get("serviceName") for d in subnet.get("delegations", [])]
    if services != [FLEX_DELEGATION]:
        return [f"the app's subnet is delegated to {services}, not exactly [{FLEX_DELEGATION!r}]"]
    return []


Needed = tuple[str, str, str]  # (service resource id, private-link group id, the setting that names it)


def _private_endpoints_needed(resources: AppResources) -> list[Needed]:
    """(service resource id, group id, why) for every data-plane endpoint the app's settings name."""
    host = resources.host_account.id
    needed = [
        (host, service, f"AzureWebJobsStorage__{service}ServiceUri")
        for service in ("blob", "queue", "table")
        if f"AzureWebJobsStorage__{service}ServiceUri" in resources.settings
    ]
    return [
        *needed,
        (resources.data_account.id, "blob", "AZURE_STORAGE_BLOB_ENDPOINT"),
        (resources.vault.id, "vault", "AZURE_KEY_VAULT_ENDPOINT"),
        (resources.cosmos.id, "Sql", "AZURE_COSMOS_ENDPOINT"),
    ]


def _endpoint(deployment: Deployment, vnet: DeployedResource, integration: str, needed: Needed) -> list[str]:
    service_id, group, why = needed
    service = service_id.rsplit("/", 1)[-1]
    endpoints = [e for e in deployment.of_type(PRIVATE_ENDPOINT) if _connects(e, service_id, group)]
    if not endpoints:
        return [f"no private endpoint for {group} of {service} ({why})"]
    problems = []
    for endpoint in endpoints:
        subnet = str(endpoint.properties.get("subnet", {}).get("id", ""))
        if subnet not in _subnets(vnet):
            problems.append(f"{endpoint.name}: its subnet {subnet} is not in {vnet.name}")
        elif subnet == integration:
            problems.append(f"{endpoint.name}: is in the app's delegated subnet, which Flex keeps for itself")
        problems += _endpoint_dns(deployment, vnet, endpoint, group)
    return problems


def _connects(endpoint: DeployedResource, service_id: str, group: str) -> bool:
    return any(
        str(c.get("properties", {}).get("privateLinkServiceId", "")).lower() == service_id.lower()
        and list(c.get("properties", {}).get("groupIds", [])) == [group]
        for c in endpoint.properties.get("privateLinkServiceConnections", [])
    )


def _endpoint_dns(deployment: Deployment, vnet: DeployedResource, endpoint: DeployedResource, group: str) -> list[str]:
    wanted = PRIVATE_DNS_ZONES[group]
    zones = {z.id.lower(): z for z in deployment.of_type(PRIVATE_DNS_ZONE)}
    groups = [g for g in deployment.of_type(ZONE_GROUP) if g.id.lower().startswith(endpoint.id.lower() + "/")]
    if not groups:
        return [f"{endpoint.name}: no private DNS zone group, so its host name still resolves to the public address"]
    configured = [
        zones.get(str(c.get("properties", {}).get("privateDnsZoneId", "")).lower())
        for g in groups
        for c in g.properties.get("privateDnsZoneConfigs", [])
    ]
    zone = next((z for z in configured if z is not None and z.name == wanted), None)
    if zone is None:
        found = sorted(z.name for z in configured if z is not None)
        return [f"{endpoint.name}: its DNS zone group writes to {found}, not to a deployed {wanted}"]
    links = [
        link
        for link in deployment.of_type(ZONE_LINK)
        if link.id.lower().startswith(zone.id.lower() + "/")
        and str(link.properties.get("virtualNetwork", {}).get("id", "")).lower() == vnet.id.lower()
    ]
    if not links:
        return [f"{zone.name} is not linked to {vnet.name}: the app would resolve {group} names to public addresses"]
    return []


def _public_access_off(deployment: Deployment, resources: AppResources) -> list[str]:
    used = {
        resources.host_account.id: STORAGE_ACCOUNT,
        resources.data_account.id: STORAGE_ACCOUNT,
        resources.vault.id: KEY_VAULT,
        resources.cosmos.id: COSMOS_ACCOUNT,
    }
    by_id = {r.id: r for r in deployment.resources}
    problems = []
    for resource_id, resource_type in used.items():
        resource = by_id[resource_id]
        for path, value in PUBLIC_ACCESS_OFF[resource_type].items():
            actual: Any = resource.properties
            for key in path.split("."):
                actual = actual.get(key) if isinstance(actual, dict) else None
            if actual != value:
                problems.append(f"{resource.name} ({resource.source}): {path} is {actual!r}, must be {value!r}")
    return problems


# ---- names and the resources the app locates through its settings, evaluated ----------------------

MODES = {
    f"{kind}, {VNET_SWITCH}={str(enabled).lower()}": (kind, enabled)
    for kind, enabled in product(IDENTITY_KINDS, (False, True))
}


def deployments(infra: Infra, *, networks: bool = True) -> Iterator[tuple[str, Deployment | str]]:
    """main.bicep evaluated with each identity kind (and, with `networks`, each networking mode): the
    deployment, or the one-line reason it does not evaluate."""
    for mode, (kind, enabled) in MODES.items():
        if not networks and enabled:
            continue
        label = mode if networks else kind
        try:
            deployment = evaluate(infra, appIdentityType=kind, **{VNET_SWITCH: enabled})
            _ = deployment.resources  # evaluates every resource now, so a failure is reported here
        except (ValueError, KeyError) as error:
            yield label, f"{label}: main.bicep does not evaluate: {error}"
            continue
        yield label, deployment


def names(infra: Infra, declaration: Declaration | None = None) -> list[str]:
    """Every name the deployment gives a resource is one Azure accepts, with either identity kind and
    either networking mode (infra_model.naming states the rules, from Microsoft's resource-name-rules
    page, so a name that `azd up` would refuse fails here instead), and so is every Key Vault secret name
    the app declares, filled in from the app settings the deployment gives it. One line per name: the
    resource type in words, its Bicep location, its evaluated value and the rule."""
    lines: dict[str, None] = {}
    for mode, deployment in deployments(infra):
        if isinstance(deployment, str):
            lines[deployment] = None
            continue
        lines.update(dict.fromkeys(str(problem) for problem in check_names(deployment)))
        if declaration is not None:
            try:
                lines.update(dict.fromkeys(_declared_secret_names(deployment, declaration)))
            except (ValueError, KeyError) as error:
                lines[f"{mode}: cannot read the function app's settings: {error}"] = None
    return list(lines)


def _declared_secret_names(deployment: Deployment, declaration: Declaration) -> list[str]:
    settings = app_resources(deployment).settings
    problems = []
    for resource in declaration.of_service("keyvault"):
        where = f"secret-names {resource.secret_names!r} of {resource.name!r} in {declaration.path.name}"
        for name in resource.secrets(settings):
            problem = secret_name_problem(name, where=where)
            if problem is not None:
                problems.append(problem)
    return problems


def declared_resources(infra: Infra, declaration: Declaration) -> list[str]:
    """Every resource the app declares (its access file) is deployed where the app's settings point,
    with either identity kind: the vault its endpoint setting names; each blob container its container
    setting names, in the storage account whose blob endpoint its endpoint setting names; the Cosmos DB
    database and container its settings name, in the account its endpoint names. Renaming a container
    or a database in infra/ needs nothing else; a setting left naming something infra/ does not deploy
    fails here, not on the app's first request."""
    lines: dict[str, None] = {}
    for kind, deployment in deployments(infra, networks=False):
        if isinstance(deployment, str):
            lines[deployment] = None
            continue
        try:
            settings = app_resources(deployment).settings
        except (ValueError, KeyError) as error:
            lines[f"{kind}: cannot read the function app's settings: {error}"] = None
            continue
        for resource in declaration.resources:
            where = f"{declaration.path.name}, resource {resource.name!r}"
            lines.update(dict.fromkeys(_locate(deployment, settings, resource, where)))
    return list(lines)


def _locate(deployment: Deployment, settings: Mapping[str, Any], resource: DeclaredResource, where: str) -> list[str]:
    wanted = [resource.endpoint_setting, resource.database_setting, resource.container_setting]
    unset = [name for name in wanted if name and (not settings.get(name) or assigned_by_azure(settings[name]))]
    if unset:
        return [
            f"{where}: the function app has no usable app setting {name}; set it in the site's appSettings in infra/"
            for name in unset
        ]
    endpoint = str(settings[resource.endpoint_setting])
    if resource.service == "keyvault":
        return _locate_vault(deployment, endpoint, resource, where)
    if resource.service == "blob":
        return _locate_blob_container(deployment, settings, endpoint, resource, where)
    return _locate_cosmos_container(deployment, settings, endpoint, resource, where)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _serving(deployment: Deployment, resource_type: str, endpoint: str, endpoint_of: str) -> DeployedResource | None:
    """The resource of the type whose endpoint property (a dotted path) has the host of `endpoint`."""
    for candidate in deployment.of_type(resource_type):
        value: Any = candidate.properties
        for key in endpoint_of.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str) and _host(value) == _host(endpoint):
            return candidate
    return None


def _locate_vault(deployment: Deployment, endpoint: str, resource: DeclaredResource, where: str) -> list[str]:
    if _serving(deployment, KEY_VAULT, endpoint, "vaultUri") is None:
        return [
            f"{where}: {resource.endpoint_setting} is {endpoint}, which is no Key Vault infra/ deploys; "
            "set it from the vault's properties.vaultUri"
        ]
    return []


def _locate_blob_container(
    deployment: Deployment, settings: Mapping[str, Any], endpoint: str, resource: DeclaredResource, where: str
) -> list[str]:
    account = _serving(deployment, STORAGE_ACCOUNT, endpoint, "primaryEndpoints.blob")
    if account is None:
        return [
            f"{where}: {resource.endpoint_setting} is {endpoint}, which is no storage account's blob endpoint in "
            "infra/; set it from the account's properties.primaryEndpoints.blob"
        ]
    setting = resource.container_setting or ""
    container = str(settings[setting])
    deployed = [c.short_name for c in deployment.of_type(BLOB_CONTAINER) if c.id.startswith(account.id + "/")]
    if container not in deployed:
        return [
            f"{where}: {setting} names blob container {container!r}, which infra/ does not deploy in storage "
            f"account {account.short_name} (it deploys {', '.join(map(repr, deployed)) or 'none'}); declare that "
            f"container in infra/, or set {setting} from the container resource's name"
        ]
    return []


def _locate_cosmos_container(
    deployment: Deployment, settings: Mapping[str, Any], endpoint: str, resource: DeclaredResource, where: str
) -> list[str]:
    account = _serving(deployment, COSMOS_ACCOUNT, endpoint, "documentEndpoint")
    if account is None:
        return [
            f"{where}: {resource.endpoint_setting} is {endpoint}, which is no Cosmos DB account infra/ deploys; "
            "set it from the account's properties.documentEndpoint"
        ]
    database_setting, container_setting = resource.database_setting or "", resource.container_setting or ""
    wanted = (str(settings[database_setting]), str(settings[container_setting]))
    deployed = [
        tuple(c.name.split("/")[1:])
        for c in deployment.of_type(COSMOS_SQL_CONTAINER)
        if c.id.startswith(account.id + "/")
    ]
    if wanted not in deployed:
        found = ", ".join("/".join(pair) for pair in deployed) or "none"
        return [
            f"{where}: {database_setting}/{container_setting} name Cosmos DB container {'/'.join(wanted)!r}, which "
            f"infra/ does not deploy in account {account.short_name} (it deploys {found}); declare that database "
            f"and container in infra/, or set both settings from their resources' names"
        ]
    return []
