"""A fake reverse geocoder over real HTTP on 127.0.0.1: ``/reverse`` answers like Nominatim
(``format=jsonv2``) or Photon (GeoJSON) from a table of places, and serves queued faults first (429 with
Retry-After, 500, a slow answer, garbage). It records every request it received (query, User-Agent, time)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    path: str
    query: dict[str, str]
    user_agent: str
    language: str
    at: float


@dataclass
class Fake:
    kind: str = "nominatim"  # or "photon"
    places: dict[tuple[float, float], dict] = field(default_factory=dict)  # (lat, lon) to 4 decimals -> details
    faults: list[tuple] = field(default_factory=list)  # ("status", code, headers) | ("slow", s) | ("garbage",)
    requests: list[Request] = field(default_factory=list)

    def answer(self, lat: float, lon: float) -> dict:
        found = self.places.get((round(lat, 4), round(lon, 4)))
        if self.kind == "photon":
            features = [{"type": "Feature", "properties": found, "geometry": None}] if found else []
            return {"type": "FeatureCollection", "features": features}
        if not found:
            return {"error": "Unable to geocode"}
        return {"place_id": 1, "lat": str(lat), "lon": str(lon), "display_name": "x, y, z, Finland", **found}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        fake: Fake = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        agent, language = self.headers.get("User-Agent", ""), self.headers.get("Accept-Language", "")
        fake.requests.append(Request(url.path, query, agent, language, time.monotonic()))
        fault = fake.faults.pop(0) if fake.faults else None
        if fault and fault[0] == "status":
            return self._send(fault[1], b'{"error": "no"}', fault[2] if len(fault) > 2 else {})
        if fault and fault[0] == "slow":
            time.sleep(fault[1])
        if fault and fault[0] == "garbage":
            return self._send(200, b"<html>busy</html>")
        if url.path != "/reverse":
            return self._send(404, b"{}")
        self._send(200, json.dumps(fake.answer(float(query["lat"]), float(query["lon"]))).encode())

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    def log_message(self, *args) -> None:
        pass


class Geocoder:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.server = _Server(fake)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
