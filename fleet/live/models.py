"""Shared live locations: a time-limited, revocable link that shows one vehicle on a public map (e.g. to a
customer awaiting a delivery). The link's key is shown once; only its SHA-256 is stored."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

DURATIONS_H = (1, 4, 12, 24, 72, 168)  # the choices offered; a week at most


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ShareLink(models.Model):
    organization = models.ForeignKey("core.Organization", on_delete=models.CASCADE, related_name="share_links")
    device = models.ForeignKey("tracking.Device", on_delete=models.CASCADE, related_name="share_links")
    label = models.CharField(max_length=100, blank=True, help_text="What the viewer sees, e.g. “Your delivery”.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    revoked = models.DateTimeField(null=True, blank=True)
    last_viewed = models.DateTimeField(null=True, blank=True)
    views = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.label or self.device} ({self.prefix}…)"

    @classmethod
    def issue(cls, device, user, hours: int, label: str = "") -> tuple["ShareLink", str]:
        """A new link to ``device`` for ``hours``; returns it and its key (not stored: shown once)."""
        key = secrets.token_urlsafe(24)
        link = cls.objects.create(
            organization_id=device.organization_id,
            device=device,
            label=label,
            key_hash=digest(key),
            prefix=key[:6],
            created_by=user,
            expires=timezone.now() + timedelta(hours=hours),
        )
        return link, key

    @classmethod
    def find(cls, key: str) -> "ShareLink | None":
        return cls.objects.select_related("device").filter(key_hash=digest(key)).first()

    def state(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        if self.revoked is not None:
            return "revoked"
        return "expired" if now >= self.expires else "active"
