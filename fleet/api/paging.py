"""Cursor pagination of the API's lists; a cursor that cannot be read is a 400 naming it (DRF says 404)."""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size_query_param = "limit"

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: "Not a cursor this list gave."}) from None


class ById(Cursor):
    ordering = "id"
    page_size = 100
    max_page_size = 1_000


class Newest(Cursor):
    ordering = "-id"
    page_size = 50
    max_page_size = 500


class FeatureCollection(ById):
    """A page of GeoJSON Features as a FeatureCollection, with the cursors of the neighbouring pages."""

    def get_paginated_response(self, data):
        from rest_framework.response import Response

        return Response(
            {
                "type": "FeatureCollection",
                "features": data,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
            }
        )

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": schema,
                "next": link,
                "previous": link,
            },
        }
