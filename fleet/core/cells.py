"""Text for spreadsheet cells: a string that a spreadsheet would read as a formula (it starts with =, +, -, @,
a tab or a carriage return) gets a leading apostrophe, so a vendor's or a user's string is never run."""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(value):
    """``value`` unchanged, unless it is a string a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
