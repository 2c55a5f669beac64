"""The OpenAPI schema says which API token scope each operation needs (a drf-spectacular
postprocessing hook). OpenAPI 3.0 gives scopes to OAuth schemes only, so an API key scheme's
scope is told in the operation's description and an `x-token-scope` field."""

from __future__ import annotations

from typing import Any

from core.permissions import required_token_scope

TOKEN_SCHEME = "tokenAuth"
TOKEN_SCHEME_DESCRIPTION = (
    "An API token (`manage.py create_api_token`): `Authorization: Token <key>` or `Bearer <key>`. "
    "A `read` token may call GET operations only; an `operate` token whatever its user's groups allow. "
    "Each operation's `x-token-scope` names the scope it needs."
)
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def token_scopes(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemes = result.get("components", {}).get("securitySchemes", {})
    if TOKEN_SCHEME in schemes:
        schemes[TOKEN_SCHEME]["description"] = TOKEN_SCHEME_DESCRIPTION
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue
            if not any(TOKEN_SCHEME in requirement for requirement in operation.get("security", [])):
                continue
            scope = required_token_scope(method)
            operation["x-token-scope"] = scope
            note = f"API token scope: `{scope}`."
            operation["description"] = f"{operation['description']}\n\n{note}" if operation.get("description") else note
    return result
