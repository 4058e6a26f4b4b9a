"""ARCHITECTURE.md: the reports app does not touch vendor code (it reaches the vendors' own reports through
the REPORTS_VENDOR_FETCH setting)."""

import ast
from pathlib import Path

import fleet.reports

REPORTS = Path(fleet.reports.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_reports_module_imports_vendor_code():
    files = sorted(REPORTS.rglob("*.py"))
    assert len(files) > 20
    offenders = {
        str(path.relative_to(REPORTS)): sorted(m for m in imported_modules(path) if m.startswith("fleet.vendors"))
        for path in files
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_the_vendor_fetch_setting_names_the_vendors_function(settings):
    from django.utils.module_loading import import_string

    from fleet.vendors.reports import fetch

    assert import_string(settings.REPORTS_VENDOR_FETCH) is fetch
