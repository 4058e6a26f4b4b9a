"""WebSocket routes served by the ASGI app (the live map consumer joins here)."""

websocket_urlpatterns: list = []
