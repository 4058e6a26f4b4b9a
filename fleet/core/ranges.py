"""A file sent whole or by one byte range (RFC 9110 §14), as map readers of a PMTiles archive ask for it."""

import re
from pathlib import Path
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse

SINGLE_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


class Unsatisfiable(ValueError):
    """The range starts past the end of the file (HTTP 416)."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The first and last byte a Range header asks of a file of `size` bytes. None when the header is not one
    valid bytes range (several ranges, another unit, last before first): the whole file is sent then."""
    match = SINGLE_RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # a suffix: the last N bytes
        if int(last) == 0 or size == 0:
            raise Unsatisfiable(header)
        return max(0, size - int(last)), size - 1
    if last != "" and int(last) < int(first):
        return None
    if int(first) >= size:
        raise Unsatisfiable(header)
    return int(first), size - 1 if last == "" else min(int(last), size - 1)


class _Slice:
    """`length` bytes of an open file from its current position: what FileResponse streams for a range."""

    def __init__(self, fh: BinaryIO, length: int) -> None:
        self.fh, self.left = fh, length

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.fh.close()


def file_response(request: HttpRequest, path: Path, content_type: str, max_age: int = 3600) -> HttpResponse:
    """`path` whole (200) or the one range the request asks (206; 416 past the end), with its ETag; a range
    whose If-Range names another version of the file gets the whole file."""
    stat = path.stat()
    size = stat.st_size
    etag = f'"{size:x}-{stat.st_mtime_ns:x}"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    span = None
    if "Range" in request.headers and request.headers.get("If-Range", etag) == etag:
        try:
            span = byte_range(request.headers["Range"], size)
        except Unsatisfiable:
            return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    fh = path.open("rb")
    if span is None:
        response = FileResponse(fh, content_type=content_type, headers=headers)
        response["Content-Length"] = size
        return response
    first, last = span
    fh.seek(first)
    response = FileResponse(_Slice(fh, last - first + 1), status=206, content_type=content_type, headers=headers)
    response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = last - first + 1
    return response
