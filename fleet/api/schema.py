"""drf-spectacular extensions: the Bearer token in the OpenAPI document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension


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


ERROR = {
    "type": "object",
    "description": "Every error has this body (docs/api.md#errors).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "Field name -> what is wrong with it.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}
ERRORS = {
    "400": "Invalid input: a parameter or a field of the body (named in fields).",
    "401": "No token, or a token that is not valid.",
    "403": "Not allowed: a read-only token writing, or a role that may not.",
    "404": "No such object among the caller's organisations.",
    "409": "A move the task's state machine does not allow, or commands to a device whose vendor takes none "
    "(the reason in message).",
    "429": "Over the token's rate: see Retry-After.",
    "502": "The vendor refused the command or could not be reached (its answer in message).",
}


def add_error_responses(result, generator, request, public):
    """Every operation's error answers in the one error body: 400, 401, 403 and 429 everywhere, 404 where the
    path names an object, 409 for the task moves; 404 (the device), 409 and 502 (the vendor) for commands."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            codes = ["400", "401", "403", "429"]
            if "{" in path:
                codes.append("404")
            if path.endswith(("/transition/", "/assign/")):
                codes.append("409")
            if path.endswith("/commands/types/") or (path.endswith("/commands/") and "post" in operations):
                codes += ["404", "409", "502"]
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, {"description": ERRORS[code], "content": body})
    return result


class _Feature(OpenApiSerializerExtension):
    """A serializer that answers GeoJSON Features (geofences, POIs): its response schema is a Feature whose
    ``properties`` are the other fields; requests take the flat fields (or a Feature, see the serializer)."""

    geometry = "geometry"

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            return schema
        fields = {k: v for k, v in schema["properties"].items() if k != self.geometry}
        required = [r for r in schema.get("required", []) if r != self.geometry]
        return {
            "type": "object",
            "description": "A GeoJSON Feature.",
            "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "id": {"type": "integer"},
                "geometry": schema["properties"][self.geometry],
                "properties": {"type": "object", "properties": fields, "required": required},
            },
            "required": ["type", "id", "geometry", "properties"],
        }


class GeofenceFeature(_Feature):
    target_class = "fleet.api.serializers.GeofenceSerializer"


class PoiFeature(_Feature):
    target_class = "fleet.api.serializers.PoiSerializer"
    geometry = "point"
