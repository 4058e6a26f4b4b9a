"""One error body for every API error: {"error": {"code", "message", "fields"}}."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    429: "throttled",
    502: "vendor_error",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class VendorFailed(exceptions.APIException):
    """The vendor behind the request refused it or could not be reached (its message says which)."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The vendor did not answer."
    default_code = "vendor_error"


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    return str(detail)


def handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    response = exception_handler(exc, context)
    if response is None:
        return None
    fields = {}
    detail = response.data
    if isinstance(exc, exceptions.ValidationError) and isinstance(detail, dict):
        fields = {k: [_flatten(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
        named = fields.keys() - {"non_field_errors"}
        message = "The request has invalid fields." if named else " ".join(fields.get("non_field_errors", []))
    else:
        message = _flatten(detail.get("detail", detail) if isinstance(detail, dict) else detail)
    body = {"error": {"code": CODES.get(response.status_code, "error"), "message": message, "fields": fields}}
    return Response(body, status=response.status_code, headers=dict(response.items()))
