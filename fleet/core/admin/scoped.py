"""The org-scoped admin every app's admin derives from. Lists, list-filter choices, form choices, raw-id labels,
autocompletes and inlines show only the user's organisations (superusers see everything), and another
organisation's object answers exactly as a missing one."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path, get_model_from_relation
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpRequest

from fleet.core.scoping import for_user, is_org_scoped


def visible(model: type[models.Model], request: HttpRequest) -> models.QuerySet:
    """The rows of ``model`` the user may pick or see named: all of them when they belong to no organisation."""
    rows = model._default_manager.all()
    return for_user(rows, request.user) if is_org_scoped(model) else rows


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A relation's filter choices: the user's organisations' objects; for a model that belongs to no
    organisation (content types), only the objects the visible rows refer to."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        related = get_model_from_relation(field)
        if is_org_scoped(related):
            pks = for_user(related._default_manager.all(), request.user).values("pk")
        else:
            pks = model_admin.get_queryset(request).values(f"{self.field_path}__pk")
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to=models.Q(pk__in=pks))


def scoped_list_filter(model: type[models.Model], entry: Any) -> Any:
    """A ``list_filter`` entry with its relation filters (``"account"``, ``"device__group"``) made scoped."""
    if isinstance(entry, str) and get_fields_from_path(model, entry)[-1].is_relation:
        return (entry, ScopedRelatedFieldListFilter)
    if isinstance(entry, tuple) and entry[1] is admin.RelatedFieldListFilter:
        return (entry[0], ScopedRelatedFieldListFilter)
    return entry


class ScopedRawIdWidget(ForeignKeyRawIdWidget):
    """A raw-id input that labels only objects in ``queryset``: another organisation's id shows no label,
    as a missing one (the stock widget looks the id up unscoped)."""

    def __init__(self, rel: Any, admin_site: admin.AdminSite, queryset: models.QuerySet, **kwargs: Any) -> None:
        super().__init__(rel, admin_site, **kwargs)
        self.queryset = queryset

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        key = self.rel.get_related_field().name
        try:
            shown = self.queryset.filter(**{key: value}).exists()
        except (ValueError, TypeError, ValidationError):
            return "", ""
        return super().label_and_url_for_value(value) if shown else ("", "")


def user_fields(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.fields if f.is_relation and f.related_model is get_user_model()]


class OrgScoped:
    """Queryset, relation choices and user fields of an admin or an inline, limited to the user's organisations.

    Users span organisations: a field naming a user is read-only except for superusers (organisation admins
    manage their members on the dashboard's Members page)."""

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return for_user(super().get_queryset(request), request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [name for name in user_fields(self.model) if name not in fields]
        return fields

    def formfield_for_foreignkey(self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        if is_org_scoped(db_field.related_model) and "queryset" not in kwargs:
            kwargs["queryset"] = visible(db_field.related_model, request)
            if db_field.name in self.raw_id_fields and "widget" not in kwargs:
                db = kwargs.get("using")
                widget = ScopedRawIdWidget(db_field.remote_field, self.admin_site, kwargs["queryset"], using=db)
                kwargs["widget"] = widget
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: models.ManyToManyField, request: HttpRequest, **kwargs: Any) -> Any:
        if is_org_scoped(db_field.related_model) and "queryset" not in kwargs:
            kwargs["queryset"] = visible(db_field.related_model, request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class OrgScopedAdmin(OrgScoped, admin.ModelAdmin):
    """Every admin list, list filter, form choice, autocomplete and object lookup limited to the user's
    organisations."""

    list_per_page = 50

    def get_list_filter(self, request: HttpRequest) -> list:
        return [scoped_list_filter(self.model, entry) for entry in super().get_list_filter(request)]

    def get_search_results(self, request: HttpRequest, queryset: models.QuerySet, search_term: str) -> tuple:
        # The autocomplete view searches here: scoped again whatever queryset it was handed.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return for_user(queryset, request.user), may_have_duplicates

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> Any:
        # Another organisation's object must look exactly like a missing one.
        raise Http404(f"No {opts.verbose_name} with id {object_id!r}.")


class ReadOnlyAdmin(OrgScopedAdmin):
    """Records the application writes (jobs, logs, queues): listed and shown, deletable where the model allows,
    never added or edited here."""

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class OrgScopedInline(OrgScoped, admin.TabularInline):
    """A tabular inline with the same limits as ``OrgScopedAdmin``."""


class RetiredFilter(admin.SimpleListFilter):
    """Objects a vendor still lists, or those it stopped listing (``retired``)."""

    title = "listed by the vendor"
    parameter_name = "retired"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("no", "Listed"), ("yes", "Retired")]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(retired__isnull=self.value() == "no")
        return queryset
