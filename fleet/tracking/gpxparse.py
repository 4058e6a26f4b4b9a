"""Reading an untrusted GPX file: the text in an accepted encoding, then one streaming expat pass that stops at
the first limit crossed (a DTD, depth, namespaces, elements, attributes) and collects the track points as it
goes. No tree is built, nothing recurses and no global state is touched. The limits and why:
docs/positions-store.md (GPX import).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from xml.parsers import expat

from gpxpy.gpxfield import parse_time

MAX_DEPTH = 100
MAX_NAMESPACES = 100  # distinct (prefix, URI) declarations
MAX_ELEMENTS = 1_000_000
MAX_ATTRIBUTES = 50  # on one element, namespace declarations not counted
MAX_ATTRIBUTE_CHARS = 10_000
MAX_VALUE_CHARS = 1_000  # text of a value read from a point; longer is not a value
SHOWN_CHARS = 40  # of a bad value, in a message

# The accepted encodings by the names a declaration may use (lower case, "_" as "-"), and their codecs.
ENCODINGS = {
    "utf-8": "UTF-8",
    "utf8": "UTF-8",
    "utf-16": "UTF-16",
    "utf-16le": "UTF-16",
    "utf-16be": "UTF-16",
    "iso-8859-1": "ISO-8859-1",
    "iso8859-1": "ISO-8859-1",
    "latin-1": "ISO-8859-1",
    "latin1": "ISO-8859-1",
    "us-ascii": "US-ASCII",  # a subset of the other three
    "ascii": "US-ASCII",
}
CODECS = {"UTF-8": "utf-8", "ISO-8859-1": "latin-1", "US-ASCII": "ascii"}
_HEAD = 300  # characters where the XML declaration must be
_DECLARED = re.compile(r"""<\?xml\s[^>]*?\bencoding\s*=\s*(["'])(.*?)\1""", re.DOTALL)
_BYTE_ORDER_MARKS = {b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"}
# What the first bytes say of the encoding: the codec, and the encodings a declaration may then name (the
# first is the one the bytes are in).
_LAYOUTS = {
    b"\xef\xbb\xbf": ("utf-8", ("UTF-8", "US-ASCII")),
    b"\xff\xfe": ("utf-16-le", ("UTF-16",)),
    b"\xfe\xff": ("utf-16-be", ("UTF-16",)),
    b"<\x00?\x00": ("utf-16-le", ("UTF-16",)),
    b"\x00<\x00?": ("utf-16-be", ("UTF-16",)),
}
_REFUSED_LAYOUTS = {
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe\x00\x00": "UTF-32",
    b"<\x00\x00\x00": "UTF-32",
    b"\x00\x00\x00<": "UTF-32",
    b"\x4c\x6f\xa7\x94": "EBCDIC",  # "<?xm"
}

_GPX_FIELDS = {"ele", "time", "sat", "hdop"}
_GPX_10_FIELDS = {"speed", "course"}  # GPX 1.0 has them in the point; 1.1 files put them in extensions
_EXTENSION_FIELDS = {"speed": "extension_speed", "course": "extension_course"}  # by local name, any case


class GpxError(ValueError):
    """The file is not a GPX track we can read; the message says why, for the user."""


@dataclass(slots=True)
class TrackPoint:
    """One ``<trkpt>`` as written: numbers as Python reads them (possibly not finite), the time as gpxpy
    reads it (None when absent or unreadable), speed in m/s."""

    latitude: float
    longitude: float
    elevation: float | None = None
    time: datetime | None = None
    satellites: int | None = None
    hdop: float | None = None
    speed: float | None = None  # GPX 1.0's <speed>
    course: float | None = None  # GPX 1.0's <course>
    extension_speed: float | None = None  # the first speed extension with a value: None when not a finite number
    extension_course: float | None = None


# ------------------------------------------------------------------------------------------------ encoding


def decode(data: bytes | str) -> str:
    """The file as text, in the encoding its byte order mark or XML declaration names (UTF-8 by default);
    only UTF-8, UTF-16 and ISO-8859-1 (and ASCII, a subset of them) are accepted."""
    if isinstance(data, str):
        return data
    for mark, name in _REFUSED_LAYOUTS.items():
        if data.startswith(mark):
            raise GpxError(_not_accepted(name))
    for mark, (codec, fits) in _LAYOUTS.items():
        if data.startswith(mark):
            text = _decoded(data[len(mark) if mark in _BYTE_ORDER_MARKS else 0 :], codec, fits[0])
            _check_declared(_declared(text), fits)
            return text
    declared = _declared(data[:_HEAD].decode("latin-1"))
    _check_declared(declared, ("UTF-8", "ISO-8859-1", "US-ASCII"))
    name = ENCODINGS[_key(declared)] if declared else "UTF-8"
    return _decoded(data, CODECS[name], declared or name)


def _declared(text: str) -> str | None:
    match = _DECLARED.match(text[:_HEAD])
    return match.group(2) if match else None


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _not_accepted(name: str) -> str:
    return f"encoding {name!r} is not accepted: use UTF-8"


def _check_declared(declared: str | None, fits: tuple[str, ...]) -> None:
    """Refuse an encoding not accepted, or one the bytes contradict (a UTF-16 file declaring UTF-8)."""
    if declared is None:
        return
    name = ENCODINGS.get(_key(declared))
    if name is None:
        raise GpxError(_not_accepted(declared))
    if name not in fits:
        raise GpxError(f"the file declares encoding {declared!r} but is {fits[0]} text")


def _decoded(body: bytes, codec: str, name: str) -> str:
    try:
        return body.decode(codec)
    except UnicodeDecodeError as exc:
        raise GpxError(f"not {name} text (byte {exc.start})") from exc


# ------------------------------------------------------------------------------------------------ parsing


# What an open element is to the reader.
OTHER, ROOT, TRACK, SEGMENT, POINT, FIELD, EXTENSIONS, EXTENSION_FIELD = range(8)


class _Reader:
    """Expat handlers: the limits, checked as each element, attribute and declaration arrives, and the
    track points, collected segment by segment. A value is the text of its element up to its first child
    (as ElementTree's ``text``, which gpxpy reads)."""

    def __init__(self) -> None:
        self.depth = self.elements = self.points = 0
        self.namespaces: set[tuple[str, str]] = set()
        self.roles: list[int] = []
        self.gpx_ns = self.version = ""
        self.segments: list[list[TrackPoint]] = []
        self.point = TrackPoint(0.0, 0.0)
        self.seen: set[str] = set()  # the current point's fields already read: the first one counts
        self.reading: tuple[int, str] | None = None  # the field whose text is being collected
        self.text: list[str] = []
        self.size = 0

    # -------------------------------------------------------------------- limits

    def start_namespace(self, prefix: str | None, uri: str | None) -> None:
        self.namespaces.add((prefix or "", uri or ""))
        if len(self.namespaces) > MAX_NAMESPACES:
            raise GpxError(f"the file declares more than {MAX_NAMESPACES} XML namespaces")

    def start_doctype(self, *args) -> None:
        raise GpxError("the file declares a document type (DTD), which GPX files do not use")

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.elements += 1
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise GpxError(f"the file nests elements deeper than {MAX_DEPTH}")
        if self.elements > MAX_ELEMENTS:
            raise GpxError(f"the file has more than {MAX_ELEMENTS:,} elements")
        if attributes:
            _check_attributes(attributes)
        if self.reading is not None:
            self._finish_value()
        self.roles.append(self._role(name, attributes))

    def end(self, name: str) -> None:
        self.depth -= 1
        if self.reading is not None:
            self._finish_value()
        if self.roles.pop() == POINT:
            self.segments[-1].append(self.point)

    def characters(self, data: str) -> None:
        if self.reading is not None:
            self.size += len(data)
            if self.size <= MAX_VALUE_CHARS:
                self.text.append(data)

    # -------------------------------------------------------------------- track points

    def _role(self, name: str, attributes: dict[str, str]) -> int:
        namespace, _, local = name.rpartition(" ")
        parent = self.roles[-1] if self.roles else None
        if parent is None:
            self.gpx_ns, self.version = namespace, attributes.get("version", "")
            return ROOT if local == "gpx" else OTHER
        if parent in (EXTENSIONS, EXTENSION_FIELD) or (parent == OTHER and EXTENSIONS in self.roles):
            key = _EXTENSION_FIELDS.get(local.lower())
            return self._read(EXTENSION_FIELD, key) if key and key not in self.seen else OTHER
        if namespace != self.gpx_ns:
            return OTHER
        if (parent, local) == (ROOT, "trk"):
            return TRACK
        if (parent, local) == (TRACK, "trkseg"):
            self.segments.append([])
            return SEGMENT
        if (parent, local) == (SEGMENT, "trkpt"):
            self.points += 1
            self.point = TrackPoint(self._coordinate(attributes, "lat"), self._coordinate(attributes, "lon"))
            self.seen = set()
            return POINT
        if parent != POINT or local in self.seen:
            return OTHER
        self.seen.add(local)
        if local in _GPX_FIELDS or (local in _GPX_10_FIELDS and self.version != "1.1"):
            return self._read(FIELD, local)
        return EXTENSIONS if local == "extensions" and self.version == "1.1" else OTHER

    def _read(self, role: int, key: str) -> int:
        self.reading, self.text, self.size = (role, key), [], 0
        return role

    def _finish_value(self) -> None:
        """Set the value of the field read (at its first child or its end)."""
        role, key = self.reading
        self.reading = None
        text = "".join(self.text) if self.size <= MAX_VALUE_CHARS else None
        if role == FIELD:
            setattr(self.point, _ATTRIBUTE[key], self._value(key, text))
        elif text:  # an extension without text is skipped: the next one of its name may have it
            self.seen.add(key)
            setattr(self.point, key, _finite(text))

    def _coordinate(self, attributes: dict[str, str], name: str) -> float:
        if name not in attributes:
            raise GpxError(f"invalid GPX: track point {self.points} has no {name}")
        number = _number(attributes[name], float)
        if number is None:
            raise GpxError(
                f"invalid GPX: track point {self.points} has {name}={_shown(attributes[name])}, not a number"
            )
        return number

    def _value(self, key: str, text: str | None) -> float | int | datetime | None:
        if text == "":
            return None
        if key == "time":
            return _time(text)
        number = _number(text, int if key == "sat" else float)
        if number is None:
            what = "a whole number" if key == "sat" else "a number"
            raise GpxError(f"invalid GPX: track point {self.points} has <{key}> {_shown(text)}, not {what}")
        return number


def _check_attributes(attributes: dict[str, str]) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise GpxError(f"the file has an element with more than {MAX_ATTRIBUTES} attributes")
    if max(map(len, attributes.values())) > MAX_ATTRIBUTE_CHARS:
        raise GpxError(f"the file has an attribute longer than {MAX_ATTRIBUTE_CHARS:,} characters")


_ATTRIBUTE = {
    "ele": "elevation",
    "time": "time",
    "sat": "satellites",
    "hdop": "hdop",
    "speed": "speed",
    "course": "course",
}


def _number(text: str | None, kind: type) -> float | int | None:
    if text is None:
        return None
    try:
        return kind(text.strip())
    except ValueError:
        return None


def _finite(text: str) -> float | None:
    value = _number(text, float)
    return value if value is not None and math.isfinite(value) else None


def _time(text: str | None) -> datetime | None:
    try:
        return parse_time(text.strip()) if text else None
    except Exception:  # gpxpy's own reading: anything it cannot read is no time
        return None


def _shown(text: str | None) -> str:
    if text is None:
        return "a value too long to read"
    return repr(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…")


def parse(data: bytes | str) -> list[list[TrackPoint]]:
    """The file's track segments, each a list of its points; raise GpxError for a file that is refused,
    not XML, or has no track point."""
    text = decode(data)
    reader = _Reader()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = reader.start_doctype
    parser.StartNamespaceDeclHandler = reader.start_namespace
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.characters
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise GpxError(f"not a GPX file ({exc})") from None
    if not reader.points:
        raise GpxError("the file has no track points")
    return reader.segments
