"""What a sync run did, per resource, for people: the counts, the resource's error, the top reasons rows were
rejected (with one example vendor id each) and the notes on rows kept without a field."""

from __future__ import annotations

from dataclasses import dataclass, field

COLUMNS = ("fetched", "created", "updated", "duplicates", "rejected")
TOP = 3


@dataclass
class Resource:
    name: str
    counts: dict[str, int]
    error: str = ""
    retired: int = 0
    deferred: int = 0  # devices whose positions the run's budget left to the next run
    reasons: list[tuple[str, int, str]] = field(default_factory=list)  # (reason, rows, example vendor id)
    notes: list[tuple[str, int]] = field(default_factory=list)


def resources(counts: dict, top: int = TOP) -> list[Resource]:
    """A run's ``counts`` (``SyncRun.counts``) resource by resource, the most frequent reasons first."""
    out = []
    for name, c in sorted(counts.items()):
        if not isinstance(c, dict):
            continue
        examples = c.get("examples") or {}
        reasons = sorted((c.get("reasons") or {}).items(), key=lambda item: (-item[1], item[0]))[:top]
        notes = sorted((c.get("notes") or {}).items(), key=lambda item: (-item[1], item[0]))[:top]
        out.append(
            Resource(
                name=name,
                counts={k: int(c.get(k, 0)) for k in COLUMNS},
                error=c.get("error", ""),
                retired=int(c.get("retired", 0)),
                deferred=int(c.get("deferred", 0)),
                reasons=[(reason, n, examples.get(reason, "")) for reason, n in reasons],
                notes=notes,
            )
        )
    return out


def describe(counts: dict, top: int = TOP) -> list[str]:
    """The same as lines of text (``manage.py sync``)."""
    lines = []
    for r in resources(counts, top):
        lines.append(f"  {r.name}: " + ", ".join(f"{k} {v}" for k, v in r.counts.items()))
        if r.error:
            lines.append(f"    failed: {r.error}")
        if r.retired:
            lines.append(f"    retired {r.retired} the vendor no longer lists")
        if r.deferred:
            lines.append(f"    {r.deferred} devices left to the next run (catching up)")
        for reason, n, example in r.reasons:
            lines.append(f"    rejected {n}: {reason}" + (f" (e.g. {example})" if example else ""))
        for note, n in r.notes:
            lines.append(f"    kept {n} with {note}")
    return lines
