"""ARCHITECTURE.md's dependency rules, read from the imports: `api`/`web`/`live` -> `reports`/`dispatch`/`geo`/
`tracking` -> `core`; `vendors` depends on tracking, geo and dispatch; nothing but tests, `make run` and benches
depends on `simulators`. The reports app reaches the vendors' own reports through the REPORTS_VENDOR_FETCH
setting, never by import."""

import ast
from pathlib import Path

import fleet

FLEET = Path(fleet.__file__).parent
ABOVE = {"reports", "live", "web", "api", "vendors", "simulators"}  # what the middle layer must not import
FORBIDDEN = {
    "core": ABOVE | {"tracking", "geo", "dispatch"},
    "tracking": ABOVE,
    "geo": ABOVE,
    "dispatch": ABOVE,
    "reports": {"live", "web", "api", "vendors", "simulators"},
    "vendors": {"reports", "live", "web", "api", "simulators"},
    "live": {"simulators"},
    "web": {"simulators"},
    "api": {"simulators"},
}
# The demo command builds a whole demo fleet: vendor accounts pointing at the simulators included.
EXCEPTIONS = {"core/management/commands/seeddemo.py"}


def imported_apps(path: Path) -> set[str]:
    apps = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        apps |= {name.split(".")[1] for name in names if name.startswith("fleet.") and name.count(".") >= 1}
    return apps


def test_every_app_imports_only_what_the_architecture_allows():
    offenders = {}
    checked = 0
    for app, forbidden in FORBIDDEN.items():
        for path in sorted((FLEET / app).rglob("*.py")):
            name = str(path.relative_to(FLEET))
            if "migrations" in path.parts or name in EXCEPTIONS:
                continue
            checked += 1
            if bad := imported_apps(path) & forbidden:
                offenders[name] = sorted(bad)
    assert checked > 100
    assert offenders == {}


def test_the_checker_sees_an_offending_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from fleet.vendors.registry import CONNECTORS\n    import fleet.web.views\n")
    assert imported_apps(module) == {"vendors", "web"}


def test_the_vendor_fetch_setting_names_the_vendors_function(settings):
    from django.utils.module_loading import import_string

    from fleet.vendors.reports import fetch

    assert import_string(settings.REPORTS_VENDOR_FETCH) is fetch
