"use strict";
// Azure Cosmos DB's data-plane RBAC decision: may this principal perform this data action at this
// scope? The same rules as infra_model/authorization.py, which follows Azure RBAC ("How Azure RBAC
// determines if a user has access to a resource"):
// - an assignment applies when its principalId is the token's oid and its scope is the request's
//   scope or an ancestor of it (a path prefix ending on a "/" boundary); both compared ignoring case;
// - its role permits an action when one of its dataActions matches and none of its notDataActions
//   does; "*" matches any run of characters, and matching ignores case;
// - access is the union of every applicable assignment.
//
// The assignments come from the access file that infra_model.authorization.Authorizer.to_json()
// writes: {"assignments": [{principalId, scope, source, role: {id, name, actions, notActions,
// dataActions, notDataActions}}]}. Cosmos DB's own RBAC only knows sqlRoleAssignments, which are
// scoped to the account, one of its databases (<account id>/dbs/<db>) or containers
// (<account id>/dbs/<db>/colls/<c>); assignments elsewhere (the resource group, other resources)
// never grant data access here, so they are left out when the file is loaded.

class AccessFileError extends Error {}

// The form scopes are compared in: without trailing slashes, lower case.
function scopeKey(scope) {
  return scope.replace(/\/+$/, "").toLowerCase();
}

// Azure scopes are paths: "/a/b" covers "/a/b" and "/a/b/c", never "/a/bc". Both are scopeKey()s.
function keyCovers(parent, child) {
  return child === parent || (child.startsWith(parent) && child[parent.length] === "/");
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function compilePattern(pattern) {
  return new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`, "i");
}

function stringList(value, where) {
  if (!Array.isArray(value) || !value.every(item => typeof item === "string")) {
    throw new AccessFileError(`${where} must be a list of strings`);
  }
  return value;
}

function requiredString(object, name, where) {
  if (typeof object[name] !== "string" || object[name] === "") {
    throw new AccessFileError(`${where}.${name} must be a non-empty string`);
  }
  return object[name];
}

function compileRole(role, where) {
  if (role === null || typeof role !== "object" || Array.isArray(role)) {
    throw new AccessFileError(`${where} must be an object`);
  }
  const name = requiredString(role, "name", where);
  const dataActions = stringList(role.dataActions, `${where}.dataActions`);
  const notDataActions = stringList(role.notDataActions, `${where}.notDataActions`);
  return {
    name,
    allows: dataActions.map(compilePattern),
    denies: notDataActions.map(compilePattern),
    usesNotDataActions: notDataActions.length > 0,
  };
}

function compileAssignment(item, index) {
  const where = `assignments[${index}]`;
  if (item === null || typeof item !== "object" || Array.isArray(item)) {
    throw new AccessFileError(`${where} must be an object`);
  }
  return {
    principalId: requiredString(item, "principalId", where).toLowerCase(),
    scopeKey: scopeKey(requiredString(item, "scope", where)),
    source: requiredString(item, "source", where),
    role: compileRole(item.role, `${where}.role`),
  };
}

function permits(role, action) {
  return role.allows.some(pattern => pattern.test(action)) && !role.denies.some(pattern => pattern.test(action));
}

// document: the parsed access file. Throws AccessFileError naming the first malformed field.
// Returns { decide, rolesUsingNotDataActions }.
function createRbac(document, { accountId }) {
  if (document === null || typeof document !== "object" || !Array.isArray(document.assignments)) {
    throw new AccessFileError('the file must be a JSON object with an "assignments" list');
  }
  const accountKey = scopeKey(accountId);
  const assignments = document.assignments
    .map(compileAssignment)
    .filter(assignment => keyCovers(accountKey, assignment.scopeKey));

  // A decision names the assignment that allowed it, for /_devstack/authorizations.
  // anyScopeBelow: an assignment anywhere below `scope` applies too. For the account's own
  // properties, which every SDK reads before anything else: database-scoped assignments work with
  // the SDKs (azure-cosmos-dotnet-v3#3638), so that read needs readMetadata somewhere in the account.
  function decide(principalId, action, scope, { anyScopeBelow = false } = {}) {
    const principal = principalId.toLowerCase();
    const requested = scopeKey(scope);
    const granted = assignments.find(assignment =>
      assignment.principalId === principal &&
      (keyCovers(assignment.scopeKey, requested) || (anyScopeBelow && keyCovers(requested, assignment.scopeKey))) &&
      permits(assignment.role, action));
    return {
      allowed: granted !== undefined,
      action,
      scope,
      principalId,
      role: granted ? granted.role.name : null,
      source: granted ? granted.source : null,
    };
  }

  const rolesUsingNotDataActions = [...new Set(assignments
    .filter(assignment => assignment.role.usesNotDataActions)
    .map(assignment => `${assignment.role.name} (${assignment.source})`))];
  return { decide, rolesUsingNotDataActions };
}

module.exports = { AccessFileError, createRbac };
