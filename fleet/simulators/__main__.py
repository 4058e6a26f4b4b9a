"""python -m fleet.simulators datatrak --port 8101 ... (no Django needed)."""

from fleet.simulators.server import main

main()
