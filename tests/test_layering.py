"""The dependency rules of docs/architecture.md, read from the imports: `api`/`web`/`live` ->
`reports`/`dispatch`/`geo`/`tracking` -> `core`; `vendors` depends on tracking, geo and dispatch; nothing but
tests, `make run` and benches depends on `simulators`. The reports app reaches the vendors' own reports
through the REPORTS_VENDOR_FETCH and REPORTS_VENDOR_POI_VISITS settings, never by import.

The same rules hold where no import shows the dependency: model references by name (`ForeignKey("app.Model")`,
`apps.get_model("app", "Model")`) and table names in raw SQL. And reports read positions only through
`fleet.tracking.store`: no reports module names the `Position` model or its table."""

import ast
import re
from collections.abc import Callable, Collection, Iterator
from functools import cache
from pathlib import Path

from django.apps import apps

import fleet

FLEET = Path(fleet.__file__).parent
ABOVE = {"reports", "live", "web", "api", "vendors", "webhooks", "simulators"}  # what the middle layer must not import
FORBIDDEN = {
    "core": ABOVE | {"tracking", "geo", "dispatch", "events"},
    "tracking": ABOVE | {"events"},
    "geo": ABOVE | {"events"},
    "dispatch": ABOVE | {"events"},
    "events": ABOVE,
    "reports": {"live", "web", "api", "vendors", "webhooks", "simulators"},
    "vendors": {"reports", "live", "web", "api", "webhooks", "simulators"},
    "webhooks": {"reports", "live", "web", "api", "simulators"},
    "live": {"simulators"},
    "web": {"simulators"},
    "api": {"simulators"},
}
# The demo command builds a whole demo fleet: vendor accounts pointing at the simulators included.
EXCEPTIONS = {"core/management/commands/seeddemo.py"}

# Model-level links the architecture accepts although they point at an app the module must not depend on, as
# (module, model reference). (Event -> geo.Geofence / dispatch.Task and Task -> tracking.Device break no rule:
# tracking, geo and dispatch are one layer and may refer to each other.)
DELIBERATE_LINKS = {
    # Every row mirrored from a vendor (devices, drivers, groups, beacons, geofences, POIs, tasks) names the
    # account it came from: the (account, vendor_id) key of the canonical records. tracking never imports vendors.
    ("tracking/models.py", "vendors.VendorAccount"),
}
# Offenders found in fleet/ that are to be fixed there, as (module, model reference or table name); remove an
# entry with its fix. Empty: the checks found none when they were written.
KNOWN_OFFENDERS_TO_FIX: set[tuple[str, str]] = set()

# The fields whose target (first argument or `to=`) or `through=` may be an "app_label.Model" string.
RELATION_FIELDS = {"ForeignKey", "OneToOneField", "ManyToManyField", "ForeignObject", "GenericRelation"}

Offence = tuple[str, int, str]  # (module under fleet/, line, what it names)


def app_modules() -> Iterator[tuple[str, Path]]:
    """(app, path) of every module the rules apply to: not migrations (history), not EXCEPTIONS."""
    for app in FORBIDDEN:
        for path in sorted((FLEET / app).rglob("*.py")):
            if "migrations" not in path.parts and str(path.relative_to(FLEET)) not in EXCEPTIONS:
                yield app, path


@cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


@cache
def nodes(path: Path) -> list[ast.AST]:
    """Every node of the module, walked once for all the checks."""
    return list(ast.walk(parse(path)))


def find_offences(
    finder: Callable[[Path], set[tuple[int, str]]],
    is_offence: Callable[[str, str], bool],
    only: Collection[str] = FORBIDDEN.keys(),
) -> set[Offence]:
    """(module, line, target) for each (line, target) `finder` returns in a module of an app (of `only`) for which
    `is_offence(app, target)`."""
    return {
        (str(path.relative_to(FLEET)), line, target)
        for app, path in app_modules()
        if app in only
        for line, target in finder(path)
        if is_offence(app, target)
    }


def unexplained(offences: set[Offence], allowed: set[tuple[str, str]]) -> list[str]:
    return sorted(
        f"{module}:{line} names {target}" for module, line, target in offences if (module, target) not in allowed
    )


def fleet_app(app_label: str) -> str | None:
    """The directory under fleet/ of an app label; None for Django's and third-party apps."""
    try:
        name = apps.get_app_config(app_label).name
    except LookupError:  # not installed (yet), like `api`
        return app_label if app_label in FORBIDDEN else None
    return name.removeprefix("fleet.") if name.startswith("fleet.") else None


def may_not_name(app: str, model_or_table_app: str | None) -> bool:
    return model_or_table_app in FORBIDDEN[app]


# --- imports


def imported_apps(path: Path) -> set[str]:
    found = set()
    for node in nodes(path):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found |= {name.split(".")[1] for name in names if name.startswith("fleet.") and name.count(".") >= 1}
    return found


def names_read_from(path: Path, module: str) -> set[tuple[int, str]]:
    """(line, name) for each name imported from `module`, or read off it as `m.name` after `import module [as m]`
    or `from parent import leaf [as m]`."""
    parent, _, leaf = module.rpartition(".")
    found, aliases = set(), set()
    for node in nodes(path):
        if isinstance(node, ast.ImportFrom) and node.module == module:
            found |= {(node.lineno, a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == parent:
            aliases |= {a.asname or a.name for a in node.names if a.name == leaf}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == module}
    attributes = (node for node in nodes(path) if aliases and isinstance(node, ast.Attribute))
    return found | {(node.lineno, node.attr) for node in attributes if ast.unparse(node.value) in aliases}


# --- model references by name


def called_name(call: ast.Call) -> str | None:
    """`f` for both `f(...)` and `x.y.f(...)`."""
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def strings(*exprs: ast.AST | None) -> list[str]:
    """The values of those of `exprs` that are string constants."""
    return [expr.value for expr in exprs if isinstance(expr, ast.Constant) and isinstance(expr.value, str)]


def model_references(path: Path) -> set[tuple[int, str]]:
    """(line, "app_label.Model") for each model named in a relation field or a `get_model` call. A name without
    an app label ("Model", "self") is a model of the module's own app: not returned."""
    found = set()
    for call in (node for node in nodes(path) if isinstance(node, ast.Call)):
        keywords = {k.arg: k.value for k in call.keywords}
        if called_name(call) in RELATION_FIELDS:
            names = strings(call.args[0] if call.args else keywords.get("to"), keywords.get("through"))
        elif called_name(call) == "get_model":  # ("app", "Model"), ("app.Model"), (app_label=, model_name=)
            names = [".".join(strings(*call.args[:2], keywords.get("app_label"), keywords.get("model_name")))]
        else:
            continue
        found |= {(call.lineno, name) for name in names if "." in name}
    return found


def model_app(reference: str) -> str | None:
    return fleet_app(reference.partition(".")[0])


# --- table names in raw SQL


@cache
def fleet_tables() -> dict[str, str]:
    """Table -> app of every fleet model, from the registry (auto-created many-to-many tables included; proxies
    left out: they share their concrete model's table and say nothing about who owns it)."""
    models = apps.get_models(include_auto_created=True)
    tables = {m._meta.db_table: fleet_app(m._meta.app_label) for m in models if not m._meta.proxy}
    return {table: app for table, app in tables.items() if app}


@cache
def table_name() -> re.Pattern:
    # A fleet table's name as a whole word: "tracking_position" is found in "FROM tracking_position p", not in
    # "tracking_position_default" nor "tracking_positions" (`_` is a word character). Any case, as in SQL.
    names = "|".join(re.escape(table) for table in fleet_tables())
    return re.compile(rf"\b(?:{names})\b", re.IGNORECASE)


DOCUMENTED = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


def docstrings(path: Path) -> set[ast.AST]:
    """The docstring nodes: they describe the code, they may name a table without being SQL."""
    scopes = (node for node in nodes(path) if isinstance(node, DOCUMENTED))
    first = [scope.body[0] for scope in scopes if scope.body]
    return {statement.value for statement in first if isinstance(statement, ast.Expr) and strings(statement.value)}


def named_tables(path: Path) -> set[tuple[int, str]]:
    """(line, table) for each fleet table a string literal names; an f-string by its constant parts (on the
    f-string's first line)."""
    skip = docstrings(path)
    literals = (node for node in nodes(path) if strings(node) and node not in skip)
    return {(node.lineno, table.lower()) for node in literals for table in table_name().findall(node.value)}


# --- the positions table, only through tracking.store


def position_mentions(path: Path) -> set[tuple[int, str]]:
    """(line, what) for each mention of the Position model: its table in a string, its name in a model reference,
    or the name `Position` read from its module."""
    position = apps.get_model("tracking", "Position")
    tables = {hit for hit in named_tables(path) if hit[1] == position._meta.db_table}
    references = {hit for hit in model_references(path) if hit[1].lower() == position._meta.label_lower}
    names = {hit for hit in names_read_from(path, position.__module__) if hit[1] == position.__name__}
    return tables | references | names


# --- the tests


def test_every_app_imports_only_what_the_architecture_allows():
    offenders = {}
    checked = 0
    for app, path in app_modules():
        checked += 1
        if bad := imported_apps(path) & FORBIDDEN[app]:
            offenders[str(path.relative_to(FLEET))] = sorted(bad)
    assert checked > 100
    assert offenders == {}


def test_the_checker_sees_an_offending_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from fleet.vendors.registry import CONNECTORS\n    import fleet.web.views\n")
    assert imported_apps(module) == {"vendors", "web"}


def test_every_model_named_in_a_string_belongs_to_an_app_the_architecture_allows():
    offences = find_offences(model_references, lambda app, reference: may_not_name(app, model_app(reference)))
    assert unexplained(offences, DELIBERATE_LINKS | KNOWN_OFFENDERS_TO_FIX) == []
    # An allowed link that no longer exists (or no longer breaks a rule) leaves the list.
    assert {(module, reference) for module, _, reference in offences} >= DELIBERATE_LINKS


def test_the_checker_sees_an_offending_model_reference(tmp_path):
    module = tmp_path / "models.py"
    module.write_text(
        "from django.apps import apps\n"
        "from django.db import models\n"
        "class Device(models.Model):\n"
        '    account = models.ForeignKey("vendors.VendorAccount", on_delete=models.CASCADE)\n'
        '    job = OneToOneField(to="reports.ReportJob", on_delete=models.CASCADE)\n'
        '    tags = models.ManyToManyField("Tag", through="live.Tagging")\n'
        '    parent = models.ForeignKey("self", on_delete=models.CASCADE)\n'
        "def f():\n"
        '    return apps.get_model("web", "Page"), apps.get_model("simulators.Vehicle")\n'
    )
    found = model_references(module)
    assert found == {
        (4, "vendors.VendorAccount"),
        (5, "reports.ReportJob"),
        (6, "live.Tagging"),
        (9, "web.Page"),
        (9, "simulators.Vehicle"),
    }
    assert all(may_not_name("tracking", model_app(reference)) for _, reference in found)


def test_raw_sql_names_only_tables_of_apps_the_architecture_allows():
    assert {"tracking_position", "vendors_vendoraccount", "reports_reportjob"} <= set(fleet_tables())
    offences = find_offences(named_tables, lambda app, table: may_not_name(app, fleet_tables()[table]))
    assert unexplained(offences, KNOWN_OFFENDERS_TO_FIX) == []


def test_the_checker_sees_a_table_named_in_raw_sql(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""Reads vendors_vendoraccount: a docstring, not SQL."""\n'
        "def f(cursor, day):\n"
        '    """Nor is this: tracking_position."""\n'
        '    cursor.execute("SELECT id FROM vendors_vendoraccount WHERE 1")\n'
        '    cursor.execute(f"DELETE FROM {day} USING Reports_ReportJob j JOIN tracking_position_default d")\n'
        '    return "tracking_positions"\n'
    )
    assert named_tables(module) == {(4, "vendors_vendoraccount"), (5, "reports_reportjob")}
    assert may_not_name("tracking", fleet_tables()["reports_reportjob"])


def test_reports_read_positions_only_through_the_tracking_store():
    offences = find_offences(position_mentions, lambda app, mention: True, only={"reports"})
    assert unexplained(offences, KNOWN_OFFENDERS_TO_FIX) == []


def test_the_checker_sees_positions_read_past_the_store(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from fleet.tracking.models import Device, Position\n"
        "from fleet.tracking import models as tracking\n"
        "import fleet.tracking.models\n"
        "tracking.Position.objects.all(), fleet.tracking.models.Position, tracking.Device\n"
        'apps.get_model("tracking", "position")\n'
        'cursor.execute("SELECT count(*) FROM tracking_position")\n'
    )
    assert position_mentions(module) == {
        (1, "Position"),
        (4, "Position"),
        (5, "tracking.position"),
        (6, "tracking_position"),
    }


def test_the_vendor_fetch_settings_name_the_vendors_functions(settings):
    from django.utils.module_loading import import_string

    from fleet.vendors.reports import fetch, poi_visits

    assert import_string(settings.REPORTS_VENDOR_FETCH) is fetch
    assert import_string(settings.REPORTS_VENDOR_POI_VISITS) is poi_visits
