"""Who may keep a live socket open (docs/live-protocol.md, Closing): the session must still sign its user in
and the user must still see an organisation. Sockets re-check on a timer and on resync; membership and user
changes and logouts tell all of a user's sockets at once through the group `fleet.user.<id>`."""

import hashlib
import logging
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from fleet.core.models import Membership
from fleet.core.scoping import User
from fleet.live import snapshot
from fleet.live.broadcast import send, user_group_name

log = logging.getLogger(__name__)
UNAUTHORISED = 4401  # not, or no longer, signed in
FORBIDDEN = 4403  # signed in, but no organisation left to show


@dataclass(frozen=True)
class Access:
    org_ids: list[int]
    superuser: bool

    def refusal(self) -> int | None:
        """The close code when this access shows nothing, else None (a superuser may see no organisation yet)."""
        return None if self.org_ids or self.superuser else FORBIDDEN


def of_user(user: User) -> Access:
    return Access(snapshot.visible_org_ids(user), user.is_superuser)


def of_session(session_key: str | None, user_id: int) -> Access | None:
    """What the session still grants this user; None once it no longer signs them in (logged out, expired,
    flushed, the password changed, the user deactivated or deleted)."""
    user = session_user(session_key)
    if user is None or user.pk != user_id:
        return None
    return of_user(user)


def session_user(session_key: str | None) -> User | None:
    """The user the stored session authenticates, by Django's own rules (auth.get_user), or None."""
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(SimpleNamespace(session=store))
    return user if user.is_authenticated else None


def session_tag(session_key: str | None) -> str:
    """Names a session in a channel message without carrying its key."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()


def tell_user(user_id: int, message: dict) -> None:
    """Send a message to every live socket of a user; on failure their timers re-check in any case."""
    if get_channel_layer() is None:
        return
    try:
        send(user_group_name(user_id), message)
    except Exception:
        log.warning("could not tell the live sockets of user %s", user_id, exc_info=True)


def membership_changed(sender: type, instance: Membership, raw: bool = False, **kwargs: object) -> None:
    if not raw:
        user_id = instance.user_id
        transaction.on_commit(lambda: tell_user(user_id, {"type": "access.check"}))


def user_changed(sender: type, instance: User, raw: bool = False, update_fields=None, **kwargs: object) -> None:
    """Deactivation, a new password, superuser status or deletion: the user's sockets re-check."""
    if raw or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    user_id = instance.pk
    transaction.on_commit(lambda: tell_user(user_id, {"type": "access.check"}))


def logged_out(sender: type, request: object, user: User | None, **kwargs: object) -> None:
    """Sockets of the ended session close at once; the user's other sessions re-check."""
    if user is not None:
        session_key = request.session.session_key
        tell_user(user.pk, {"type": "access.logout", "session": session_tag(session_key)})


def connect_signals() -> None:
    for signal, name in ((post_save, "save"), (post_delete, "delete")):
        signal.connect(membership_changed, sender=Membership, dispatch_uid=f"live.membership.{name}")
        signal.connect(user_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid=f"live.user.{name}")
    user_logged_out.connect(logged_out, dispatch_uid="live.logout")
