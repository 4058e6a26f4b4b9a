"""python manage.py simulate datatrak --port 8101 --devices 50 --seed 1 [--frozen] ..."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from fleet.simulators.server import add_arguments, serve


class Command(BaseCommand):
    help = "Run a fake vendor server (real HTTP + WebSocket, ground truth at /__sim__/truth)."
    requires_system_checks: list[str] = []  # the simulator needs neither the database nor the other apps

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        serve(options)
