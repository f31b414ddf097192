"""Cognito pre token generation trigger (event version 2): puts what the Fluxo functions read into
the access token.

API Gateway's Cognito authorizer checks the access token and its resource-server scope
(`<server>/ledger:read`, `<server>/ledger:write`); the functions then read, from the authorizer
context, `sub`, `scope` (for the bare `ledger:read` / `ledger:write`) and `accounts`. Cognito puts no
custom attribute in an access token and always prefixes resource-server scopes, so this trigger:

- copies the user's `custom:accounts` attribute into an `accounts` claim (administrators set it; the
  app client cannot write it);
- grants a ledger scope only to members of its group (`ledger-read`, `ledger-write`), and, when the
  client asked for resource-server scopes in an OAuth flow, only the ones it asked for;
- adds each granted scope both prefixed (for API Gateway) and bare (for the functions), and removes
  prefixed ones the user may not have.

It logs nothing about the user.
"""

import os

RESOURCE_SERVER = os.environ["RESOURCE_SERVER"]
GROUP_OF_SCOPE = {"ledger:read": "ledger-read", "ledger:write": "ledger-write"}


def handler(event, _context):
    request = event.get("request") or {}
    groups = set((request.get("groupConfiguration") or {}).get("groupsToOverride") or [])
    granted = set(request.get("scopes") or [])
    prefix = RESOURCE_SERVER + "/"
    asked_in_oauth_flow = any(scope.startswith(prefix) for scope in granted)

    add, suppress = [], []
    for scope, group in GROUP_OF_SCOPE.items():
        full = prefix + scope
        allowed = group in groups and (full in granted or not asked_in_oauth_flow)
        if allowed:
            add.extend(s for s in (full, scope) if s not in granted)
        elif full in granted:
            suppress.append(full)

    accounts = (request.get("userAttributes") or {}).get("custom:accounts", "")
    event["response"] = {
        "claimsAndScopeOverrideDetails": {
            "accessTokenGeneration": {
                "claimsToAddOrOverride": {"accounts": accounts},
                "scopesToAdd": add,
                "scopesToSuppress": suppress,
            }
        }
    }
    return event
