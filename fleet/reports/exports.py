"""A computed ``Report`` as CSV, XLSX, GPX or KML: pure functions of the report and the organisation's units.

Every format reads the same ``Report`` the page shows, so the figures match by construction. LINK columns
(URLs inside fleet) are for the page only; a LATLON column becomes two numeric columns, latitude and
longitude. The CSV holds the data rows only (no totals row, so it loads cleanly into other tools); the
XLSX adds the totals row, in bold, and an "About" sheet with the range and units.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from xml.etree import ElementTree as ET

import gpxpy.gpx
import xlsxwriter

from fleet.core.cells import inert
from fleet.reports.kinds import KINDS
from fleet.reports.tables import (
    DATE,
    DATETIME,
    DISTANCE,
    DURATION,
    INT,
    LATLON,
    LINK,
    NUMBER,
    SPEED,
    VOLUME,
    Column,
    Report,
    Table,
    Units,
    unknown,
)

KML_NS = "http://www.opengis.net/kml/2.2"
GPX_SCHEMA = ["http://www.topografix.com/GPX/1/0", "http://www.topografix.com/GPX/1/0/gpx.xsd"]
# Characters XML 1.0 forbids; vendor strings (device names) could carry them.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
NUMERIC = {INT, NUMBER, DURATION, DISTANCE, SPEED, VOLUME}


class NoTracks(ValueError):
    """GPX / KML asked of a report that has no tracks (only route and trips have them)."""


def export_columns(table: Table) -> list[Column]:
    return [c for c in table.columns if c.kind != LINK]


def headers(table: Table, units: Units) -> list[str]:
    out = []
    for column in export_columns(table):
        if column.kind == LATLON:
            out += [f"{column.label} latitude", f"{column.label} longitude"]
        else:
            out.append(units.header(column))
    return out


def values(table: Table, units: Units, row: dict) -> list:
    """One row's export values in the organisation's units (a LATLON gives two)."""
    out = []
    for column in export_columns(table):
        value = row.get(column.key)
        if column.kind == LATLON:
            out += [None, None] if value is None else [value[0], value[1]]
        else:
            out.append(units.value(column, value))
    return out


# -------------------------------------------------------------------------------------------------- CSV


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value) -> str | float | int:
    if unknown(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return inert(value)  # a spreadsheet opening the CSV must not run a vendor string as a formula


def to_csv(report: Report, units: Units, table: str | None = None) -> Iterator[str]:
    """CSV lines of one table (by name), or of every table (each after a line with its title when there are
    several). Raises KeyError for an unknown table name."""
    writer = csv.writer(_Echo())
    tables = [_table(report, table)] if table else report.tables
    for i, t in enumerate(tables):
        if len(tables) > 1:
            if i:
                yield writer.writerow([])
            yield writer.writerow([t.title])
        yield writer.writerow(headers(t, units))
        for row in t.rows:
            yield writer.writerow([_csv_cell(v) for v in values(t, units, row)])


def _table(report: Report, name: str) -> Table:
    for t in report.tables:
        if t.name == name:
            return t
    raise KeyError(name)


# ------------------------------------------------------------------------------------------------- XLSX


class _Formats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.book, self.cache = book, {}
        self.header = book.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})

    def get(self, column: Column, bold: bool = False):
        if column.kind == DATETIME:
            spec = "yyyy-mm-dd hh:mm:ss"
        elif column.kind == DATE:
            spec = "yyyy-mm-dd"
        elif column.kind in (DISTANCE, SPEED, VOLUME, NUMBER) and column.decimals > 0:
            spec = "0." + "0" * column.decimals
        elif column.kind in NUMERIC:
            spec = "0"
        else:
            spec = None
        key = (spec, bold)
        if key not in self.cache:
            props = {"bold": bold} | ({"num_format": spec} if spec else {})
            self.cache[key] = self.book.add_format(props)
        return self.cache[key]


def _cells(table: Table) -> list[Column]:
    """One column per exported cell: a LATLON column stands for its two number cells."""
    out = []
    for column in export_columns(table):
        if column.kind == LATLON:
            out += [Column(column.key, column.label, NUMBER, 6)] * 2
        else:
            out.append(column)
    return out


def _write(sheet, row: int, col: int, column: Column, value, fmt) -> None:
    if unknown(value):  # a non-finite number too: XLSX has no NaN or infinity
        sheet.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value, fmt)
    elif isinstance(value, datetime | date):
        sheet.write_datetime(row, col, value, fmt)
    elif isinstance(value, int | float):
        sheet.write_number(row, col, value, fmt)
    else:
        sheet.write_string(row, col, str(value), fmt)


def _widths(table: Table, units: Units, names: list[str]) -> list[int]:
    cells = _cells(table)
    widths = [min(max(len(n) for n in name.split("\n")) + 2, 40) for name in names]
    for row in table.rows[:200]:
        for i, (column, value) in enumerate(zip(cells, values(table, units, row), strict=True)):
            size = 19 if column.kind == DATETIME else 10 if isinstance(value, int | float) else len(str(value or ""))
            widths[i] = min(max(widths[i], size + 2), 60)
    return widths


def sheet_names(tables: list[Table]) -> list[str]:
    """Valid, unique Excel sheet names (<= 31 characters, none of []:*?/\\) from the tables' names."""
    names: list[str] = []
    for t in tables:
        base = SHEET_FORBIDDEN.sub("_", t.name).strip("'")[:31] or "Sheet"
        name, n = base, 2
        while name.lower() in {x.lower() for x in names} or name.lower() in ("history", "about"):
            suffix = f" ({n})"
            name, n = base[: 31 - len(suffix)] + suffix, n + 1
        names.append(name)
    return names


def to_xlsx(report: Report, units: Units) -> bytes:
    """One sheet per table (frozen header row, units in the headers, real dates and numbers, totals in bold),
    then an "About" sheet. Written row by row in constant-memory mode."""
    out = io.BytesIO()
    options = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    book = xlsxwriter.Workbook(out, options)
    formats = _Formats(book)
    for table, name in zip(report.tables, sheet_names(report.tables), strict=True):
        _sheet(book.add_worksheet(name), table, units, formats)
    _about(book.add_worksheet("About"), report, units, formats)
    book.close()
    return out.getvalue()


def _sheet(sheet, table: Table, units: Units, formats: _Formats) -> None:
    names, cells = headers(table, units), _cells(table)
    for i, width in enumerate(_widths(table, units, names)):
        sheet.set_column(i, i, width)
    sheet.freeze_panes(1, 0)
    for i, name in enumerate(names):
        sheet.write_string(0, i, name, formats.header)
    plain = [formats.get(c) for c in cells]
    r = 0
    for r, row in enumerate(table.rows, 1):
        for i, value in enumerate(values(table, units, row)):
            _write(sheet, r, i, cells[i], value, plain[i])
    if table.totals:
        bold = [formats.get(c, bold=True) for c in cells]
        totals = values(table, units, table.totals)
        if totals[0] is None:
            totals[0] = "Total"
        for i, value in enumerate(totals):
            _write(sheet, r + 1, i, cells[i], value, bold[i])


def _about(sheet, report: Report, units: Units, formats: _Formats) -> None:
    stamp = Column("t", "t", DATETIME)
    when = formats.get(stamp)
    lines = [
        ("Report", report.title),
        ("From", units.value(stamp, report.start)),
        ("To", units.value(stamp, report.end)),
        ("Time zone", units.timezone),
        ("Distance unit", units.distance[1]),
        ("Speed unit", units.speed[1]),
        ("Volume unit", units.volume[1]),
        ("Devices", len(report.device_ids)),
        *(("Note", note) for note in report.notes),
    ]
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, 1, 60)
    for r, (label, value) in enumerate(lines):
        sheet.write_string(r, 0, label, formats.header)
        _write(sheet, r, 1, stamp, value, when if isinstance(value, datetime) else None)


# -------------------------------------------------------------------------------------------- GPX / KML


def _check_tracks(report: Report) -> None:
    if not KINDS[report.kind].tracks:
        raise NoTracks(f"a {report.kind} report has no tracks: GPX and KML exist for route and trips")


def xml_text(value) -> str:
    return XML_FORBIDDEN.sub("", str(value))


def to_gpx(report: Report) -> str:
    """GPX 1.0 (which has a speed element, m/s): one track per TrackLine with times, elevation and speed."""
    _check_tracks(report)
    gpx = gpxpy.gpx.GPX()
    gpx.creator, gpx.name = "fleet", xml_text(report.title)
    gpx.schema_locations = GPX_SCHEMA
    for line in report.tracks:
        track = gpxpy.gpx.GPXTrack(name=xml_text(line.name))
        segment = gpxpy.gpx.GPXTrackSegment()
        for when, lat, lon, kmh, alt in line.fixes():
            speed = None if kmh is None else round(kmh / 3.6, 3)
            segment.points.append(gpxpy.gpx.GPXTrackPoint(lat, lon, elevation=alt, time=when, speed=speed))
        track.segments.append(segment)
        gpx.tracks.append(track)
    return gpx.to_xml(version="1.0")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_kml(report: Report) -> str:
    """KML 2.2: a Placemark per TrackLine with its time span and a LineString (a Point for a single fix)."""
    _check_tracks(report)
    ET.register_namespace("", KML_NS)

    def sub(parent, tag: str, text=None, **attrs):
        node = ET.SubElement(parent, f"{{{KML_NS}}}{tag}", attrs)
        if text is not None:
            node.text = xml_text(text)
        return node

    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = sub(root, "Document")
    sub(doc, "name", report.title)
    style = sub(doc, "Style", id="track")
    line_style = sub(style, "LineStyle")
    sub(line_style, "color", "ffeb6f1f")  # aabbggrr: the accent blue
    sub(line_style, "width", "3")
    for line in report.tracks:
        mark = sub(doc, "Placemark")
        sub(mark, "name", line.name)
        if len(line):
            span = sub(mark, "TimeSpan")
            sub(span, "begin", _iso(line.time(0)))
            sub(span, "end", _iso(line.time(-1)))
        sub(mark, "styleUrl", "#track")
        coordinates = " ".join(
            f"{lon:.6f},{lat:.6f}" for lat, lon in zip(line.lat.tolist(), line.lon.tolist(), strict=True)
        )
        if len(line) >= 2:
            geometry = sub(mark, "LineString")
            sub(geometry, "tessellate", "1")
        else:
            geometry = sub(mark, "Point")
        sub(geometry, "coordinates", coordinates)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


__all__ = ["NoTracks", "headers", "to_csv", "to_gpx", "to_kml", "to_xlsx", "values"]
