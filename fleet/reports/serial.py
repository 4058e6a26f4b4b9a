"""What the reports app stores outside the process (a background job's ``Report`` in the database, a closed
day's engine result in the cache) as versioned msgpack: plain values, with extension types for datetimes,
dates, tuples, numpy arrays and the report dataclasses. Nothing is unpickled; bytes of another format or
version decode to ``None`` and the caller computes again."""

from __future__ import annotations

import dataclasses
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgpack
import numpy as np

from fleet.reports.engine import NoData, Stop, SummaryRow, Trip
from fleet.reports.tables import Column, Report, Table, TrackLine

FORMAT = 1  # raise it whenever the encoding of a type changes
MAGIC = b"FRS"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Extension type codes. Dataclasses are tagged with their name in CLASSES.
_DATETIME, _DATE, _TUPLE, _ARRAY, _DATACLASS = 1, 2, 3, 4, 5
CLASSES: dict[str, type] = {
    cls.__name__: cls for cls in (Report, Table, Column, TrackLine, Trip, Stop, SummaryRow, NoData)
}


class FormatError(ValueError):
    """Bytes that are not this format and version."""


def _micros(value: datetime) -> int:
    """An aware datetime as microseconds since the epoch (UTC)."""
    return (value - _EPOCH) // timedelta(microseconds=1)


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _default(value: Any) -> msgpack.ExtType:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetimes are not stored: reports hold aware UTC datetimes")
        return msgpack.ExtType(_DATETIME, _micros(value).to_bytes(8, "little", signed=True))
    if isinstance(value, date):
        return msgpack.ExtType(_DATE, value.toordinal().to_bytes(4, "little"))
    if isinstance(value, tuple):
        return msgpack.ExtType(_TUPLE, _pack(list(value)))
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return msgpack.ExtType(_ARRAY, _pack([array.dtype.str, list(array.shape), array.tobytes()]))
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and type(value).__name__ in CLASSES:
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return msgpack.ExtType(_DATACLASS, _pack([type(value).__name__, fields]))
    raise TypeError(f"cannot store a {type(value).__name__}")


def _ext(code: int, data: bytes) -> Any:
    if code == _DATETIME:
        return _from_micros(int.from_bytes(data, "little", signed=True))
    if code == _DATE:
        return date.fromordinal(int.from_bytes(data, "little"))
    if code == _TUPLE:
        return tuple(_unpack(data))
    if code == _ARRAY:
        dtype, shape, raw = _unpack(data)
        return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
    if code == _DATACLASS:
        name, fields = _unpack(data)
        if name not in CLASSES:
            raise FormatError(f"unknown stored type {name!r}")
        return CLASSES[name](**fields)
    raise FormatError(f"unknown extension type {code}")


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, default=_default, use_bin_type=True, strict_types=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext, raw=False, strict_map_key=False)


def dumps(value: Any, compress: bool = False) -> bytes:
    """``value`` (reports' plain values and dataclasses) as bytes of this format."""
    body = _pack(value)
    if compress:
        return MAGIC + b"z" + bytes([FORMAT]) + zlib.compress(body, 6)
    return MAGIC + b"-" + bytes([FORMAT]) + body


def loads(data: bytes) -> Any:
    """What ``dumps`` stored; raises FormatError for bytes of another format or version."""
    try:
        return _unpack(_body(data))
    except (zlib.error, ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise FormatError(f"unreadable stored report: {exc}") from exc


def loads_ends(data: bytes, whole: tuple[int, ...] = ()) -> list:
    """A stored list of lists (a closed day's trips, stops, summary rows and no-data spans) with only the first
    and last item of each inner list decoded (all of them for the lists at the indexes ``whole``), the others
    skipped undecoded: what a summary needs of a cached day (its rows, and whether its first and last trip and
    stop go on across its edges), several times faster than ``loads`` for a day of many trips. Raises
    FormatError like ``loads``."""
    try:
        body = msgpack.unpackb(_body(data), raw=False)  # a tuple stays an undecoded extension
        if isinstance(body, msgpack.ExtType) and body.code == _TUPLE:
            body = body.data  # its items, packed as a list
        unpacker = msgpack.Unpacker(None, ext_hook=_ext, raw=False, strict_map_key=False)
        unpacker.feed(body if isinstance(body, bytes) else _body(data))
        out = []
        for k in range(unpacker.read_array_header()):
            n = unpacker.read_array_header()
            if k in whole:
                out.append([unpacker.unpack() for _ in range(n)])
                continue
            ends = [unpacker.unpack()] if n else []
            for _ in range(n - 2):
                unpacker.skip()
            if n > 1:
                ends.append(unpacker.unpack())
            out.append(ends)
        return out
    except (zlib.error, ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise FormatError(f"unreadable stored report: {exc}") from exc


# SummaryRow's fields stored as other than plain msgpack values by ``dumps_rows``
_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(SummaryRow))
_ROW_TIMES = frozenset({"start", "end", "first_start", "last_stop"})  # datetimes: UTC microseconds
_ROW_DATES = frozenset({"day"})  # dates: ordinals
_ROW_TIME_AT = tuple(k for k, name in enumerate(_ROW_FIELDS) if name in _ROW_TIMES)
_ROW_DATE_AT = tuple(k for k, name in enumerate(_ROW_FIELDS) if name in _ROW_DATES)


def dumps_rows(rows: dict[str, list[SummaryRow]]) -> bytes:
    """Summary rows by key (a fleet's rows entry), compressed, each row a plain list of its fields in order
    (datetimes as UTC microseconds, dates as ordinals): no extension type per row, so ``loads_rows`` reads
    6,000 devices' rows in a few tens of milliseconds (``loads`` of the same as dataclasses: ~0.2 s)."""

    def plain(row: SummaryRow) -> list:
        values = [getattr(row, name) for name in _ROW_FIELDS]
        for k in _ROW_TIME_AT:
            if values[k] is not None:
                values[k] = _micros(values[k])
        for k in _ROW_DATE_AT:
            if values[k] is not None:
                values[k] = values[k].toordinal()
        return values

    return dumps({key: [plain(row) for row in day] for key, day in rows.items()}, compress=True)


def loads_rows(data: bytes) -> dict[str, list[SummaryRow]]:
    """What ``dumps_rows`` stored; raises FormatError for bytes of another format or shape."""
    stored = loads(data)
    if not isinstance(stored, dict):
        raise FormatError("not a rows entry")

    def row(values: list) -> SummaryRow:
        for k in _ROW_TIME_AT:
            if values[k] is not None:
                values[k] = _from_micros(values[k])
        for k in _ROW_DATE_AT:
            if values[k] is not None:
                values[k] = date.fromordinal(values[k])
        return SummaryRow(*values)

    try:
        return {key: [row(values) for values in day] for key, day in stored.items()}
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise FormatError(f"unreadable rows entry: {exc}") from exc


def _body(data: bytes) -> bytes:
    data = bytes(data)
    if len(data) < 5 or data[:3] != MAGIC or data[4] != FORMAT or data[3:4] not in (b"z", b"-"):
        raise FormatError("not a stored report of this version")
    return zlib.decompress(data[5:]) if data[3:4] == b"z" else data[5:]
