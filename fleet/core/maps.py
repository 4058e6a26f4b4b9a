"""What every map page needs from settings.LEAFLET_CONFIG and settings.MAP_OFFLINE (the live map, replay,
report maps, places, dispatch, the shared-location page), and the offline street map's archive."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_safe
from pmtiles.tile import MagicNumberNotFound, SpecVersionUnsupported, deserialize_header

from fleet.core.ranges import file_response

OFFLINE_NAME = "Offline streets"
PMTILES_HEADER_BYTES = 127
PMTILES_TYPE = "application/vnd.pmtiles"


@dataclass(frozen=True)
class Archive:
    path: Path
    max_zoom: int


def map_settings() -> dict:
    """Tile layers, the offline street map (or None) and the start view."""
    conf = settings.LEAFLET_CONFIG
    tiles = [{"name": name, "url": url, **options} for name, url, options in conf["TILES"]]
    return {
        "tiles": tiles,
        "offline": offline_layer(),
        "center": list(conf["DEFAULT_CENTER"]),
        "zoom": conf["DEFAULT_ZOOM"],
    }


def offline_layer() -> dict | None:
    """The layer static/js/basemap.js falls back to: the self-hosted tile URL, else the PMTiles archive."""
    conf = settings.MAP_OFFLINE
    layer = {"name": OFFLINE_NAME, "attribution": conf["ATTRIBUTION"]}
    if conf["TILE_URL"]:
        return {**layer, "url": conf["TILE_URL"], "maxZoom": 19}
    archive = offline_archive()
    if archive is None:
        return None
    script = static("vendor/protomaps-leaflet/protomaps-leaflet.js")
    return {**layer, "pmtiles": reverse("basemap"), "script": script, "maxDataZoom": archive.max_zoom}


def offline_archive() -> Archive | None:
    """The configured PMTiles archive, None when there is none or it cannot be read (the system check says why)."""
    try:
        return read_archive(settings.MAP_OFFLINE["PMTILES"])
    except ValueError:
        return None


def read_archive(path: Path | None) -> Archive | None:
    """The archive at `path` (None for no path); ValueError saying what is wrong with the file."""
    if path is None:
        return None
    try:
        with path.open("rb") as fh:
            header = deserialize_header(fh.read(PMTILES_HEADER_BYTES))
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from exc
    except (MagicNumberNotFound, SpecVersionUnsupported, UnicodeDecodeError, IndexError, ValueError) as exc:
        raise ValueError("is not a PMTiles version 3 archive") from exc
    return Archive(path, header["max_zoom"])


@require_safe
def basemap(request: HttpRequest) -> HttpResponse:
    """The offline street map's archive, by byte ranges. Public like the static files (the shared-location
    page needs it): it holds map data only, nothing of any organisation."""
    archive = offline_archive()
    if archive is None:
        raise Http404("No offline street map is configured.")
    return file_response(request, archive.path, PMTILES_TYPE)
