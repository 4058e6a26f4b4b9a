"""drf-spectacular extensions: the Bearer token in the OpenAPI document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "fleet.api.auth.TokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token made on the API tokens page."}


DATABASE_BOUNDS = {2**31 - 1, -(2**31), 2**63 - 1, -(2**63), 2**15 - 1, -(2**15), 0}


def drop_database_int_bounds(result, generator, request, public):
    """Integer fields' minimum / maximum are the database column's range, which differs between PostgreSQL and
    SQLite: dropped (with the int64 format that goes with them), so the schema is the same on either."""

    def walk(node):
        if isinstance(node, dict):
            for bound in ("minimum", "maximum"):
                value = node.get(bound)
                if isinstance(value, int) and value in DATABASE_BOUNDS and value != 0:
                    node.pop(bound)
            if node.get("type") == "integer" and node.get("format") == "int64":
                node.pop("format")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
