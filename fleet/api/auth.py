"""API authentication: ``Authorization: Bearer <key>`` with a user's ApiToken (read or write scope), beside the
dashboard's session. A revoked token, an inactive user or an unknown key is a 401."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.throttling import SimpleRateThrottle

from fleet.api.models import ApiToken, digest

LAST_USED_EVERY = timedelta(minutes=1)  # last_used is written at most this often


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the token as: Authorization: Bearer <key>.")
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = ApiToken.objects.select_related("user").filter(key_hash=digest(key), revoked__isnull=True).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token is not valid (unknown, revoked, or its user is inactive).")
        now = timezone.now()
        if token.last_used is None or now - token.last_used > LAST_USED_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class TokenScope(permissions.BasePermission):
    """A read-only token may only read."""

    message = "This token is read-only."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if isinstance(token, ApiToken) and token.scope == ApiToken.Scope.READ:
            return request.method in permissions.SAFE_METHODS
        return True


class TokenThrottle(SimpleRateThrottle):
    """Per token (or per session user): API_THROTTLE_RATE requests, then 429 with Retry-After."""

    scope = "api"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return f"throttle:api:token:{request.auth.pk}:{request.auth.prefix}"
        if request.user and request.user.is_authenticated:
            return f"throttle:api:user:{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
