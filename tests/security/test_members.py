"""The Members page: an organisation's admins invite people by email (who set their own password through
Django's password reset confirmation), change roles and remove members, never the last admin; dispatchers and
viewers get 403, and nobody touches another organisation's members."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from fleet.core.models import Membership
from tests.conftest import make_org, make_user

ADMIN, DISPATCHER, VIEWER = Membership.Role.ADMIN, Membership.Role.DISPATCHER, Membership.Role.VIEWER


@pytest.fixture
def alice(client, user_a):
    """Org A's only admin, logged in."""
    client.force_login(user_a)
    return client


@pytest.fixture
def dan(django_user_model, org_a):
    return make_user(django_user_model, "dan", org_a, role=DISPATCHER, staff=False)


def members_url(org) -> str:
    return reverse("member-list", args=[org.slug])


def invite_url(org) -> str:
    return reverse("member-invite", args=[org.slug])


def role_url(membership) -> str:
    return reverse("member-role", args=[membership.organization.slug, membership.pk])


def remove_url(membership) -> str:
    return reverse("member-remove", args=[membership.organization.slug, membership.pk])


def link_in(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def test_an_invitee_sets_a_password_from_the_email_and_logs_in(alice, client, org_a, django_user_model):
    response = alice.post(invite_url(org_a), {"email": "New.Person@Example.com", "role": DISPATCHER})
    assert response.status_code == 302 and response.url == members_url(org_a)
    (message,) = mail.outbox
    assert message.to == ["New.Person@example.com"] and "Org A" in message.subject
    invitee = django_user_model.objects.get(email__iexact="new.person@example.com")
    assert not invitee.has_usable_password() and invitee.memberships.get().role == DISPATCHER
    assert f"username {invitee.username}" in message.body
    client.logout()
    form_page = client.get(link_in(message), follow=True)
    assert form_page.context["validlink"]
    password = "a-Long-enough-pw-42"
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    login = client.post(reverse("login"), {"username": invitee.username, "password": password})
    assert login.status_code == 302 and login.url == reverse("home")


def test_an_invitation_link_works_once(alice, client, org_a):
    alice.post(invite_url(org_a), {"email": "once@example.com", "role": VIEWER})
    link = link_in(mail.outbox[0])
    client.logout()
    form_page = client.get(link, follow=True)
    client.post(form_page.redirect_chain[-1][0], {"new_password1": "pw-Good-12345", "new_password2": "pw-Good-12345"})
    again = client.get(link, follow=True)
    assert again.status_code == 200 and not again.context["validlink"]


def test_inviting_someone_with_a_login_adds_them_and_tells_them_to_log_in(alice, org_a, org_b, user_b):
    user_b.email = "bob@example.com"
    user_b.save()
    assert alice.post(invite_url(org_a), {"email": "BOB@example.com", "role": VIEWER}).status_code == 302
    assert user_b.memberships.get(organization=org_a).role == VIEWER
    assert user_b.memberships.get(organization=org_b).role == ADMIN  # the other organisation is untouched
    (message,) = mail.outbox
    assert message.to == ["bob@example.com"] and "/password/" not in message.body
    assert reverse("login") in message.body


def test_inviting_a_pending_invitee_again_sends_a_new_link(alice, org_a):
    for _ in range(2):
        assert alice.post(invite_url(org_a), {"email": "slow@example.com", "role": VIEWER}).status_code == 302
    assert len(mail.outbox) == 2 and all("/password/" in m.body for m in mail.outbox)
    assert Membership.objects.filter(organization=org_a, user__email="slow@example.com").count() == 1


def test_inviting_a_member_again_is_a_form_error(alice, org_a, user_a):
    user_a.email = "alice@example.com"
    user_a.save()
    response = alice.post(invite_url(org_a), {"email": "alice@example.com", "role": VIEWER})
    assert response.status_code == 400
    assert "already a member" in response.content.decode() and not mail.outbox


@pytest.mark.parametrize("email", ["", "not-an-email", "<script>@x", "a@" + "b" * 140 + ".com"])
def test_a_bad_invitation_is_a_400_with_the_form_error(alice, org_a, email):
    response = alice.post(invite_url(org_a), {"email": email, "role": VIEWER})
    assert response.status_code == 400 and response.context["invite_form"].errors["email"]
    assert "<script>" not in response.content.decode()
    assert not mail.outbox


def test_a_bad_role_is_a_400(alice, org_a, dan):
    assert alice.post(invite_url(org_a), {"email": "x@example.com", "role": "owner"}).status_code == 400
    assert alice.post(role_url(dan.memberships.get()), {"role": "owner"}).status_code == 400


def test_the_page_lists_the_members_with_their_roles_as_text(alice, org_a, dan, user_b):
    dan.first_name = "<b>Dan</b>"
    dan.save()
    body = alice.get(members_url(org_a)).content.decode()
    assert "alice" in body and "dan" in body and "&lt;b&gt;Dan&lt;/b&gt;" in body
    assert "bob" not in body  # a member of another organisation


def test_an_admin_changes_a_members_role(alice, dan):
    membership = dan.memberships.get()
    assert alice.post(role_url(membership), {"role": VIEWER}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == VIEWER


def test_an_admin_removes_a_member_who_keeps_their_login(alice, dan, django_user_model):
    assert alice.post(remove_url(dan.memberships.get())).status_code == 302
    assert not Membership.objects.filter(user=dan).exists()
    assert django_user_model.objects.filter(pk=dan.pk).exists()


def test_the_last_admin_can_be_neither_demoted_nor_removed(alice, user_a):
    membership = user_a.memberships.get()
    for response in (alice.post(role_url(membership), {"role": VIEWER}), alice.post(remove_url(membership))):
        assert response.status_code == 400 and "needs at least one admin" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == ADMIN


def test_an_admin_may_step_down_when_another_admin_remains(alice, user_a, django_user_model, org_a):
    make_user(django_user_model, "ann", org_a, role=ADMIN)
    response = alice.post(role_url(user_a.memberships.get()), {"role": VIEWER})
    assert response.status_code == 302 and response.url == reverse("home")
    assert alice.get(members_url(org_a)).status_code == 403


@pytest.mark.parametrize("role", [DISPATCHER, VIEWER])
def test_dispatchers_and_viewers_cannot_reach_the_page(client, django_user_model, org_a, user_a, role):
    user = make_user(django_user_model, "someone", org_a, role=role)
    client.force_login(user)
    target = user_a.memberships.get()
    assert client.get(reverse("member-index")).status_code == 403
    assert client.get(members_url(org_a)).status_code == 403
    assert client.post(invite_url(org_a), {"email": "x@example.com", "role": ADMIN}).status_code == 403
    assert client.post(role_url(target), {"role": VIEWER}).status_code == 403
    assert client.post(remove_url(target)).status_code == 403
    assert target.role == ADMIN and Membership.objects.filter(pk=target.pk).exists() and not mail.outbox
    assert reverse("member-index") not in client.get(reverse("device-list")).content.decode()


def test_an_admin_cannot_touch_another_organisations_members(alice, org_b, user_b, org_a):
    theirs = user_b.memberships.get()
    assert alice.get(members_url(org_b)).status_code == 404
    assert alice.post(invite_url(org_b), {"email": "x@example.com", "role": ADMIN}).status_code == 404
    assert alice.post(role_url(theirs), {"role": VIEWER}).status_code == 404
    assert alice.post(remove_url(theirs)).status_code == 404
    disguised = reverse("member-remove", args=[org_a.slug, theirs.pk])  # their membership under our organisation
    assert alice.post(disguised).status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == ADMIN and not mail.outbox


def test_a_member_of_two_orgs_is_managed_only_where_the_user_is_admin(alice, django_user_model, org_a, user_a):
    org_c = make_org("c")
    Membership.objects.create(user=user_a, organization=org_c, role=DISPATCHER)
    both = make_user(django_user_model, "pat", org_a, role=VIEWER)
    in_c = Membership.objects.create(user=both, organization=org_c, role=VIEWER)
    assert alice.get(members_url(org_c)).status_code == 403
    assert alice.post(role_url(in_c), {"role": ADMIN}).status_code == 403
    assert alice.post(remove_url(both.memberships.get(organization=org_a))).status_code == 302
    assert list(both.memberships.all()) == [in_c] and in_c.role == VIEWER


def test_an_admin_of_several_orgs_chooses_one(client, django_user_model, org_a):
    org_c = make_org("c")
    user = make_user(django_user_model, "multi", org_a)
    Membership.objects.create(user=user, organization=org_c, role=ADMIN)
    client.force_login(user)
    body = client.get(reverse("member-index")).content.decode()
    assert members_url(org_a) in body and members_url(org_c) in body


def test_an_admin_of_one_org_goes_straight_to_its_page(alice, org_a):
    response = alice.get(reverse("member-index"))
    assert response.status_code == 302 and response.url == members_url(org_a)
    assert reverse("member-index") in alice.get(reverse("device-list")).content.decode()


def test_the_pages_need_a_login(client, org_a, user_a):
    response = client.get(members_url(org_a))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert client.post(invite_url(org_a), {"email": "x@example.com", "role": ADMIN}).status_code == 302
    assert not mail.outbox
