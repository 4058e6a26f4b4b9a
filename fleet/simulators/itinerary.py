"""Where and when a simulated vehicle will park: the stops of ``motion.Fleet`` read ahead, leg by leg, from the
same generators the simulator drives it with (so the demo can give vehicles tasks at places they will reach)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fleet.simulators import roads
from fleet.simulators.motion import EPOCH, Fleet, SimVehicle


@dataclass(frozen=True, slots=True)
class Stop:
    vehicle: SimVehicle
    place: roads.Place
    arrive: datetime  # the parked leg's start: the vehicle is at the place
    leave: datetime  # the next drive's start (the vehicle idles a few seconds before it moves)


def stops(fleet: Fleet, indexes: list[int], until: datetime) -> list[Stop]:
    """The stops of the fleet's vehicles ``indexes`` that begin before ``until``, in time order per vehicle.
    Plans the vehicles' legs ahead: use a fleet built for this, not one a simulator serves from."""
    at_node = {place.node: place for place in roads.places()}
    limit = (until - EPOCH).total_seconds()
    out = []
    for index in indexes:
        track = fleet._tracks[index]
        while track.next_start < limit:
            parking, node, begin = track.park_next, track.node, track.next_start
            _, _, track.next_start = track.plan()
            if parking and node in at_node:
                arrive, leave = (EPOCH + timedelta(seconds=t) for t in (begin, track.next_start))
                out.append(Stop(fleet.vehicles[index], at_node[node], arrive, leave))
    return out
