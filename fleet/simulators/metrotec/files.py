"""Files attached to Metrotec objects (``/api/files``): listed with their metadata, uploaded as multipart form
data, their type changed. A mixin of MetrotecSim; the bytes are kept only as their size and SHA-256."""

from __future__ import annotations

import hashlib
from email import message_from_bytes
from email.message import Message
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fleet.simulators.metrotec.formats import ApiError, json_object, vendor_time
from fleet.simulators.server import json_response

PIVOT_TYPES = (
    "accounts",
    "logos",
    "route_tasks",
    "vehicle_faults",
    "feedback_answers",
    "tech_card_works",
    "signatures",
)
FILE_TYPES = (
    "image",
    "cmr",
    "delivery_note",
    "order",
    "other",
    "receiver_signature",
    "sender_signature",
    "carrier_signature",
)
MAX_UPLOAD = 20 * 1024 * 1024


def form_parts(content_type: str, body: bytes) -> dict[str, Message]:
    """The parts of a multipart/form-data body by field name (the standard library's MIME parser)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError("Send the file as multipart/form-data.")
    message = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        raise ApiError("Send the file as multipart/form-data.")
    parts = {}
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[str(name)] = part
    return parts


def field(parts: dict[str, Message], name: str, default: str | None = None) -> str | None:
    part = parts.get(name)
    if part is None:
        return default
    return (part.get_payload(decode=True) or b"").decode("utf-8", "replace")


class Files:
    """The files of a Metrotec simulator, keyed by id."""

    def setup_files(self) -> None:
        self.files: dict[int, dict[str, Any]] = {}
        self.next_file_id = 12345

    async def files_view(self, request: Request) -> Response:
        """GET: the organisation's files (``pivot_type`` / ``pivot_id`` filter them); POST uploads one."""
        if request.method == "GET":
            query = request.query_params
            rows = [f for f in self.files.values() if not f["hidden"] or query.get("hidden") == "1"]
            for key in ("pivot_type", "pivot_id"):
                if query.get(key):
                    rows = [f for f in rows if f[key] == query[key]]
            return json_response([self.public_file(f) for f in rows])
        body = await request.body()
        if len(body) > MAX_UPLOAD:
            raise ApiError("The file may not be greater than 20480 kilobytes.", 413)
        parts = form_parts(request.headers.get("content-type", ""), body)
        return json_response(self.public_file(self.store_file(parts)))

    def store_file(self, parts: dict[str, Message]) -> dict[str, Any]:
        upload = parts.get("file")
        if upload is None or not upload.get_filename():
            raise ApiError("The file field is required.")
        pivot_type, pivot_id = field(parts, "pivot_type"), field(parts, "pivot_id")
        if pivot_type not in PIVOT_TYPES:
            raise ApiError("The selected pivot type is invalid.")
        if not pivot_id:
            raise ApiError("The pivot id field is required.")
        if pivot_type == "route_tasks" and (not pivot_id.isdigit() or int(pivot_id) not in self.tasks):
            raise ApiError("Task not found.", 404)
        file_type = field(parts, "file_type", "other")
        if file_type not in FILE_TYPES:
            raise ApiError("The selected file type is invalid.")
        content = upload.get_payload(decode=True) or b""
        name, digest = str(upload.get_filename()), hashlib.sha256(content).hexdigest()
        day = vendor_time(self.clock.now())[:10].replace("-", "")
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else "bin"
        stored = {
            "id": self.next_file_id,
            "pivot_id": pivot_id,
            "pivot_type": pivot_type,
            "defined_name": name,
            "file_name": f"{day}_{digest[:12]}.{extension}",
            "mime": upload.get_content_type(),
            "file_type": file_type,
            "uploaded_at": vendor_time(self.clock.now()),
            "oid": 100,
            "sender": "api",
            "hidden": 1 if field(parts, "hidden") == "1" else 0,
            "_size": len(content),
            "_sha256": digest,
        }
        self.files[stored["id"]] = stored
        self.next_file_id += 1
        return stored

    async def file_view(self, request: Request) -> Response:
        """PUT: change the file's type."""
        stored = self.files.get(request.path_params["id"])
        if stored is None:
            raise ApiError("File not found.", 404)
        body = await json_object(request)
        if body.get("file_type") not in FILE_TYPES:
            raise ApiError("The selected file type is invalid.")
        stored["file_type"] = body["file_type"]
        return json_response(self.public_file(stored))

    def truth_files(self) -> list[dict[str, Any]]:
        """Every file with its size and SHA-256."""
        return [self.public_file(f) | {"size": f["_size"], "sha256": f["_sha256"]} for f in self.files.values()]

    @staticmethod
    def public_file(stored: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in stored.items() if not k.startswith("_")}
