"""Organisation members: invitations by email, role changes and removals, under one rule: an organisation
keeps at least one admin. The Members page (``fleet/web/members.py``) and the Membership admin call these."""

from collections.abc import Callable, Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from fleet.core.models import Membership, Organization
from fleet.core.scoping import User, organizations_where

ADMIN = Membership.Role.ADMIN


class MemberError(Exception):
    """A change refused, with a message for the person who asked for it."""


def managed_organizations(user: User) -> models.QuerySet[Organization]:
    """The organisations whose members the user manages: those where they are an admin (superusers: all)."""
    return organizations_where(user, (ADMIN,))


def manages(user: User, organization: Organization) -> bool:
    return managed_organizations(user).filter(pk=organization.pk).exists()


def needs_an_admin(organization: Organization) -> str:
    return f"{organization} needs at least one admin: make someone else an admin first."


def left_without_admin(memberships: Iterable[Membership]) -> list[Organization]:
    """The organisations that would have no admin once ``memberships`` are gone (or are admins no more)."""
    memberships = list(memberships)
    orgs = {m.organization_id for m in memberships if m.role == ADMIN}
    others = Membership.objects.filter(organization_id__in=orgs, role=ADMIN).exclude(pk__in=[m.pk for m in memberships])
    return list(Organization.objects.filter(pk__in=orgs - set(others.values_list("organization_id", flat=True))))


def change_role(membership: Membership, role: str) -> None:
    with transaction.atomic():
        membership = _locked(membership)
        if role != ADMIN and left_without_admin([membership]):
            raise MemberError(needs_an_admin(membership.organization))
        membership.role = role
        membership.save(update_fields=["role"])


def remove(membership: Membership) -> None:
    """End a membership (the user keeps their login and their other organisations)."""
    with transaction.atomic():
        membership = _locked(membership)
        if left_without_admin([membership]):
            raise MemberError(needs_an_admin(membership.organization))
        membership.delete()


def _locked(membership: Membership) -> Membership:
    """The membership read afresh with its organisation's row locked, so two admins cannot demote each other."""
    Organization.objects.select_for_update().filter(pk=membership.organization_id).first()
    return Membership.objects.select_related("organization", "user").get(pk=membership.pk)


def invite(organization: Organization, email: str, role: str, absolute: Callable[[str], str]) -> Membership:
    """Make the person with ``email`` a member with ``role`` and email them. Someone without an account gets one
    (the email as username, no password) and a link to set a password; someone with an account is told they
    can log in; an invitee who has not set a password yet gets the link again. ``absolute`` makes a path a URL."""
    with transaction.atomic():
        user = _user_for(email)
        membership, created = Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": role}
        )
        if not created and user.has_usable_password():
            raise MemberError(f"{email} is already a member of {organization}.")
    send_invitation(user, organization, absolute)
    return membership


def _user_for(email: str) -> AbstractBaseUser:
    """The account registered with ``email``, else a new one named by it (suffixed if that name is taken)."""
    users = get_user_model().objects
    existing = users.filter(email__iexact=email).order_by("pk").first()
    if existing:
        return existing
    username, n = email.lower(), 1
    while users.filter(username__iexact=username).exists():
        n += 1
        username = f"{email.lower()}-{n}"
    return users.create_user(username=username, email=email)  # no password: an unusable one


def set_password_path(user: AbstractBaseUser) -> str:
    """The standard password-reset confirmation page for ``user``, with a one-time token."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("password_reset_confirm", args=[uid, default_token_generator.make_token(user)])


def send_invitation(user: AbstractBaseUser, organization: Organization, absolute: Callable[[str], str]) -> None:
    needs_password = not user.has_usable_password()
    context = {
        "organization": organization.name,
        "username": user.get_username(),
        "url": absolute(set_password_path(user) if needs_password else reverse("login")),
        "needs_password": needs_password,
    }
    subject = " ".join(f"You are a member of {organization.name} on fleet".split())  # no line breaks in a header
    body = render_to_string("registration/invitation_email.txt", context)
    send_mail(subject, body, None, [user.email])
