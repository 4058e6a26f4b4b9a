import asyncio
import signal

from django.core.management.base import BaseCommand

from fleet.vendors.stream import run_streams


class Command(BaseCommand):
    help = "Run the live vendor sockets (one per stream-capable account) until interrupted."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", action="append", help="only this account name (repeatable)")

    def handle(self, *args, **o) -> None:
        asyncio.run(self._run(o["account"]))

    async def _run(self, names: list[str] | None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        self.stdout.write(f"streaming {'accounts ' + ', '.join(names) if names else 'every streamable account'}")
        await run_streams(names, stop)
