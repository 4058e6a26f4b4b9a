"""Load a deployment's named streets (for "Near <street>" addresses) from a GeoJSON file of OSM ways."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fleet.geo.geocoding import streets


class Command(BaseCommand):
    help = (
        "Replace the streets of a source with the named LineStrings of a GeoJSON FeatureCollection "
        "(properties.name), e.g. OSM highways exported by ogr2ogr or osmium (docs/geocoding.md)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="GeoJSON FeatureCollection of LineStrings / MultiLineStrings")
        parser.add_argument("--source", help="the name the rows are kept under (default: the file's name)")

    def handle(self, *args, path: Path, source: str | None, **options) -> None:
        try:
            count = streets.replace(source or path.name, streets.geojson_streets(path))
        except streets.StreetFileError as exc:
            raise CommandError(str(exc)) from exc
        done = f"{count} named street segments loaded from {path} as {source or path.name}"
        self.stdout.write(self.style.SUCCESS(done))
