"""WebSocket routes served by the ASGI app (the live map consumer joins here)."""

from django.urls import path

from fleet.live.consumers import LiveConsumer

websocket_urlpatterns: list = [path("ws/live/", LiveConsumer.as_asgi())]
