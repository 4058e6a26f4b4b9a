"""What every map page needs from settings.LEAFLET_CONFIG (the live map, replay, report maps)."""

from django.conf import settings


def map_settings() -> dict:
    """Tile layers and the start view."""
    conf = settings.LEAFLET_CONFIG
    tiles = [{"name": name, "url": url, **options} for name, url, options in conf["TILES"]]
    return {"tiles": tiles, "center": list(conf["DEFAULT_CENTER"]), "zoom": conf["DEFAULT_ZOOM"]}
