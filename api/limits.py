"""Bounds the service puts on documents, beyond the spec's own rules.

The spec allows any dates and any number of minutes; a service must not let one
request make the solver enumerate ten thousand years of days or push a date past
the calendar. These bounds are far outside real home care and documented in
docs/api.md; each breach is reported like any other field error.
"""

from __future__ import annotations

from datetime import datetime

from optimiser.domain.documents import Package, Problem
from optimiser.domain.errors import FieldError

FIRST_YEAR, LAST_YEAR = 1900, 2199
MAX_VISIT_MINUTES = 24 * 60
MAX_TOLERANCE_MINUTES = 12 * 60
MAX_GAP_MINUTES = 31 * 24 * 60


def _year(path: str, stamp: datetime) -> list[FieldError]:
    if FIRST_YEAR <= stamp.year <= LAST_YEAR:
        return []
    return [FieldError(path, f"year {stamp.year} is outside {FIRST_YEAR}-{LAST_YEAR}")]


def problem_limits(problem: Problem, max_days: int) -> list[FieldError]:
    """Bound the horizon and visit lengths. Call only on a problem without semantic errors."""
    errors = _year("horizon.start", problem.horizon.start) + _year("horizon.end", problem.horizon.end)
    if errors:
        return errors
    days = (problem.horizon.end - problem.horizon.start).total_seconds() / 86400
    if days > max_days:
        errors.append(FieldError("horizon", f"spans {days:.0f} days; this server takes at most "
                                            f"{max_days} (the max_horizon_days setting)"))
    for i, visit in enumerate(problem.visits):
        if visit.duration_minutes > MAX_VISIT_MINUTES:
            errors.append(FieldError(f"visits[{i}].duration_minutes",
                                     f"at most {MAX_VISIT_MINUTES} (one day)"))
        if visit.follows is not None and max(abs(visit.follows.min_gap_minutes),
                                             abs(visit.follows.max_gap_minutes)) > MAX_GAP_MINUTES:
            errors.append(FieldError(f"visits[{i}].follows",
                                     f"gaps are limited to {MAX_GAP_MINUTES} minutes (31 days)"))
    return errors


def package_limits(package: Package, prefix: str = "package") -> list[FieldError]:
    """Bound a package's dates and call lengths so its visits stay on the calendar."""
    errors: list[FieldError] = []
    if not FIRST_YEAR <= package.start.year <= LAST_YEAR:
        errors.append(FieldError(f"{prefix}.start",
                                 f"year {package.start.year} is outside {FIRST_YEAR}-{LAST_YEAR}"))
    for i, call in enumerate(package.calls):
        if call.tolerance_minutes > MAX_TOLERANCE_MINUTES:
            errors.append(FieldError(f"{prefix}.calls[{i}].tolerance_minutes",
                                     f"at most {MAX_TOLERANCE_MINUTES}"))
        if call.duration_minutes > MAX_VISIT_MINUTES:
            errors.append(FieldError(f"{prefix}.calls[{i}].duration_minutes",
                                     f"at most {MAX_VISIT_MINUTES} (one day)"))
    return errors
