"""The admin's "view on site" redirect (``admin:view_on_site``, ``/admin/r/<content type>/<id>/``), scoped:
fleet/urls.py routes the admin's URL here. Django's own view redirects for any object that exists, so it told
whether another organisation's object exists; here that object answers exactly as a missing one."""

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponseRedirect

from fleet.core.scoping import for_user, is_org_scoped

NOT_FOUND = "No object with a page matches the given query."


def visible_object(request: HttpRequest, content_type_id: int, object_id: str) -> models.Model | None:
    content_type = ContentType.objects.filter(pk=content_type_id).first()
    model = content_type.model_class() if content_type else None
    if model is None or not (request.user.is_superuser or is_org_scoped(model)):
        return None
    try:
        return for_user(model._default_manager.filter(pk=object_id), request.user).first()
    except (ValueError, TypeError, ValidationError):
        return None


def view_on_site(request: HttpRequest, content_type_id: int, object_id: str) -> HttpResponseRedirect:
    obj = visible_object(request, content_type_id, object_id)
    if obj is None or not hasattr(obj, "get_absolute_url"):
        raise Http404(NOT_FOUND)
    return HttpResponseRedirect(obj.get_absolute_url())
