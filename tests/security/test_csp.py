"""The Content-Security-Policy header: scripts only from this site (no inline script), tiles from the tile
server. The browser tests show that every page runs under it without a violation."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from fleet.settings import _tile_origin

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.parametrize(
    "name",
    ["home", "device-list", "reports:index", "reports:utilisation", "import-gpx", "geofences", "geofences-new", "pois"],
)
def test_every_page_forbids_inline_scripts_and_allows_the_tiles(client, user_a, world_a, name):
    client.force_login(user_a)
    directives = policy(client.get(reverse(name)))
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no nonce unused
    assert directives["style-src"] == ["'self'"]
    tiles = [_tile_origin(url) for _, url, _ in settings.LEAFLET_CONFIG["TILES"]]
    assert set(filter(None, tiles)) <= set(directives["img-src"])  # MAP_TILE_URL's origin
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]


def test_the_login_page_has_the_policy_too(client):
    assert policy(client.get(reverse("login")))["default-src"] == ["'self'"]


def test_a_tile_url_gives_its_origin_with_subdomains_as_a_wildcard():
    assert _tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert _tile_origin("http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png") == "http://127.0.0.1:8080"
    assert _tile_origin("/tiles/{z}/{x}/{y}.png") is None  # on this site: 'self'


def test_no_template_has_an_inline_script_handler_or_style():
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        scripts = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text)
        assert not scripts, f"{path.name}: inline <script> {scripts}"
        assert not re.search(r"\son[a-z]+=", text), f"{path.name}: an inline event handler"
        assert not re.search(r"<style|\sstyle=", text), f"{path.name}: an inline style"
