"""The Members page: an organisation's admins list its members, invite people by email, change roles and
remove members. Other users get 403; another organisation is 404. The rules live in ``fleet.core.members``."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from fleet.core import access, members
from fleet.core.models import Membership, Organization
from fleet.core.scoping import get_for_user

ROLE_HELP = "Admins also manage members; dispatchers also import GPX files; viewers only look."


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=140)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER, help_text=ROLE_HELP)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


def managed_organization(request: HttpRequest, slug: str) -> Organization:
    """The organisation ``slug`` names: 404 if the user cannot see it, 403 if they are not one of its admins."""
    organization = get_for_user(Organization.objects.all(), request.user, slug=slug)
    if not access.administered(request.user).filter(pk=organization.pk).exists():
        raise PermissionDenied("Only the organisation's admins manage its members.")
    return organization


def organization_membership(organization: Organization, pk: int) -> Membership:
    memberships = Membership.objects.select_related("user", "organization")
    return get_object_or_404(memberships, pk=pk, organization=organization)


def render_members(request: HttpRequest, organization: Organization, status: int = 200, **context) -> HttpResponse:
    context.setdefault("invite_form", InviteForm())
    context["organization"] = organization
    context["memberships"] = organization.memberships.select_related("user").order_by("user__username")
    context["organizations"] = access.administered(request.user)
    context["roles"] = Membership.Role.choices
    return render(request, "web/members.html", context, status=status)


def after_change(request: HttpRequest, organization: Organization) -> HttpResponse:
    """Back to the page, or home once the user no longer manages the organisation (they left or stepped down)."""
    if members.manages(request.user, organization):
        return redirect("member-list", slug=organization.slug)
    return redirect("home")


@login_required
def member_index(request: HttpRequest) -> HttpResponse:
    organizations = list(access.administered(request.user))
    if not organizations:
        raise PermissionDenied("Only organisation admins manage members.")
    if len(organizations) == 1:
        return redirect("member-list", slug=organizations[0].slug)
    return render(request, "web/member_index.html", {"organizations": organizations})


@login_required
def member_list(request: HttpRequest, slug: str) -> HttpResponse:
    return render_members(request, managed_organization(request, slug))


@require_POST
@login_required
def member_invite(request: HttpRequest, slug: str) -> HttpResponse:
    organization = managed_organization(request, slug)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return render_members(request, organization, status=400, invite_form=form)
    email, role = form.cleaned_data["email"], form.cleaned_data["role"]
    try:
        members.invite(organization, email, role, request.build_absolute_uri)
    except members.MemberError as exc:
        form.add_error("email", str(exc))
        return render_members(request, organization, status=400, invite_form=form)
    messages.success(request, f"Invitation sent to {email}.")
    return redirect("member-list", slug=organization.slug)


@require_POST
@login_required
def member_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    organization = managed_organization(request, slug)
    membership = organization_membership(organization, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return render_members(request, organization, status=400, error="Choose admin, dispatcher or viewer.")
    try:
        members.change_role(membership, form.cleaned_data["role"])
    except members.MemberError as exc:
        return render_members(request, organization, status=400, error=str(exc))
    messages.success(request, f"{membership.user.get_username()} is now {form.cleaned_data['role']}.")
    return after_change(request, organization)


@require_POST
@login_required
def member_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    organization = managed_organization(request, slug)
    membership = organization_membership(organization, pk)
    try:
        members.remove(membership)
    except members.MemberError as exc:
        return render_members(request, organization, status=400, error=str(exc))
    messages.success(request, f"{membership.user.get_username()} is no longer a member of {organization}.")
    return after_change(request, organization)
