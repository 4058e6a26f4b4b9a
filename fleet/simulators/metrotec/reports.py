"""Metrotec's report-like lists in the simulator: refuelling events per vehicle, work and repair time (all
vehicles, and one vehicle's periods) and the open waybills. A mixin of MetrotecSim (it uses its store, trips,
drivers and clock)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fleet.simulators.metrotec.formats import ApiError, parse_vendor_time, vendor_time
from fleet.simulators.server import json_response

REFUEL_MIN_L = 3.0  # a fuel level rise this big between two fixes is a refuelling
FUEL_ADDRESS = "FI, Uusimaa, Helsinki, Neste"


class Reports:
    """Fuel events, work time and waybills, derived from the motion model's fixes and trips."""

    def period_list(self, request: Request) -> tuple[float, float]:
        """``datetime[]=start&datetime[]=stop`` (UTC, YYYY-MM-DD HH:MM:SS)."""
        values = request.query_params.getlist("datetime[]")
        if len(values) != 2:
            raise ApiError("The datetime field must have 2 items.")
        return parse_vendor_time(values[0], "datetime.0"), parse_vendor_time(values[1], "datetime.1")

    # --- refuelling ---
    def fuel_events(self, device: int, t_from: float, t_to: float, now: float) -> list[dict[str, Any]]:
        """Each rise of the fuel level of REFUEL_MIN_L or more between two fixes in the window, with the route
        driven since the previous one (or the window's start)."""
        rows = self.store.window(device, t_from, t_to, now)
        fixes, times, out = self.store.fixes, self.store.times, []
        odometer_from = fixes[rows[0]].odometer_m if rows else 0.0
        for a, b in zip(rows, rows[1:], strict=False):
            before, after = fixes[a].fuel_l, fixes[b].fuel_l
            if after - before < REFUEL_MIN_L:
                continue
            out.append(
                {
                    "ID": 3434188 + b,
                    "objectID": self.regs[device],
                    "startTime": vendor_time(times[a]),
                    "stopTime": vendor_time(times[b]),
                    "maxTime": vendor_time(times[b]),
                    "fuelBeforeL": round(before),
                    "fuelAfterL": round(after),
                    "routeLengthKM": round((fixes[b].odometer_m - odometer_from) / 1000, 2),
                    "fuelAddress": FUEL_ADDRESS,
                    "required": None,
                }
            )
            odometer_from = fixes[b].odometer_m
        return out

    async def fuel_events_view(self, request: Request) -> Response:
        now = self.sync()
        return json_response(self.fuel_events(self.vehicle(request), *self.period(request), now))

    def truth_fuel_events(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        return [row for d in range(len(self.regs)) for row in self.fuel_events(d, 0.0, now, now)]

    # --- work and repair time: a vehicle works while its ignition is on (its trips); no repairs ---
    def work_periods(self, device: int, t_from: float, t_to: float, now: float) -> list[dict[str, Any]]:
        times, driver = self.store.times, self.device_driver[device]
        out = []
        for first, end, _k, _stop_end in self.trips(device, t_from, t_to, now):
            start, stop = int(times[first]), int(times[end])
            row = {"id": 490480 + first, "object_id": self.regs[device], "start": vendor_time(start)}
            row |= {"stop": vendor_time(stop), "type_id": 0, "status": "work"}
            row |= {
                "name": self.driver_title(driver),
                "driver_id": self.drivers[driver]["id"] if driver is not None else None,
            }
            out.append(row | {"startTimestamp": start, "stopTimestamp": stop})
        return out

    async def work_time_view(self, request: Request) -> Response:
        """Work and repair seconds of every vehicle in the period."""
        now = self.sync()
        t_from, t_to = self.period_list(request)
        rows = []
        for device, reg in enumerate(self.regs):
            work = sum(p["stopTimestamp"] - p["startTimestamp"] for p in self.work_periods(device, t_from, t_to, now))
            alias = self.model.vehicles[device].name
            rows.append({"id": reg, "alias": alias, "work": work, "repair": 0, "own_repair": 0})
        return json_response(rows)

    async def vehicle_work_time_view(self, request: Request) -> Response:
        now = self.sync()
        reg = request.path_params["id"]
        if reg not in self.by_reg:
            raise ApiError("Vehicle not found.", 404)
        return json_response(self.work_periods(self.by_reg[reg], *self.period_list(request), now))

    def driver_title(self, driver: int | None) -> str:
        """A driver's name as people write it ("Jaan Tamm"); "" for none."""
        return "" if driver is None else " ".join(self.drivers[driver][k].title() for k in ("name", "fname"))

    # --- waybills: one open waybill per vehicle that has a driver, opened when the model started ---
    async def waybills_view(self, request: Request) -> Response:
        now = self.sync()
        opened = vendor_time(self.model.start.timestamp())
        rows = []
        for device, driver in enumerate(self.device_driver):
            if driver is None:
                continue
            row = {"id": device + 1, "object_id": self.regs[device], "jobName": f"Job {device + 1}"}
            rows.append(
                row
                | {
                    "start": opened,
                    "stop": vendor_time(now),
                    "driverName": self.driver_title(driver),
                    "alias": f"DRIVER{driver + 1}",
                }
            )
        return json_response(rows)
