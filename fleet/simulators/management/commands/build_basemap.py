"""python manage.py build_basemap [--output PATH]"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from fleet.simulators.basemap import OUTPUT, build


class Command(BaseCommand):
    help = "Write the demo's offline street map (a PMTiles archive of the simulators' road graph)."
    requires_system_checks: list[str] = []  # reads only the committed road graph

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where to write it (default {OUTPUT})")

    def handle(self, *args: Any, output: Path, **options: Any) -> None:
        count = build(output)
        self.stdout.write(f"Wrote {output}: {count} tiles, {output.stat().st_size:,} bytes.")
