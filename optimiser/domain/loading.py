"""Parse and check input documents: schema first (pydantic), then meaning.

The semantic checks are the ones a schema cannot express: unknown or
duplicate ids, windows and shifts that end before they start, visits outside
the horizon, overlapping shifts, and documents mixing naive and
offset-aware datetimes. All errors are collected, not just the first.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from optimiser.domain.documents import (
    District,
    Package,
    Problem,
    Route,
    Solution,
)
from optimiser.domain.errors import DocumentError, FieldError, from_validation_error

M = TypeVar("M", bound=BaseModel)


def read_json(source: str | Path | bytes | dict[str, Any], kind: str = "document") -> Any:
    """Read JSON from a path, text, bytes or an already-parsed dict."""
    if isinstance(source, dict):
        return source
    if isinstance(source, Path):
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise DocumentError([FieldError("", f"cannot read {source}: {exc.strerror}")], kind) from exc
    elif isinstance(source, bytes):
        text = source.decode("utf-8", errors="replace")
    else:
        text = source
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise DocumentError([FieldError("", msg)], kind) from exc


def _parse(model: type[M], data: Any, kind: str) -> M:
    if not isinstance(data, dict):
        raise DocumentError([FieldError("", f"a {kind} must be a JSON object")], kind)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DocumentError(from_validation_error(exc), kind) from exc


def _duplicates(items: list[Any], path: str, errors: list[FieldError]) -> None:
    counts = Counter(item.id for item in items)
    for i, item in enumerate(items):
        if counts[item.id] > 1:
            errors.append(FieldError(f"{path}[{i}].id", f"duplicate id {item.id!r}"))


def _datetimes(model: BaseModel, path: str) -> list[tuple[str, datetime]]:
    """Every datetime in a document with its path (for the naive/aware check)."""
    found: list[tuple[str, datetime]] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, datetime):
            found.append((where, value))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{where}.{name}" if where else name)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")

    walk(model, path)
    return found


def check_mixed_datetimes(model: BaseModel, errors: list[FieldError], path: str = "") -> None:
    stamps = _datetimes(model, path)
    if not stamps:
        return
    first_aware = stamps[0][1].tzinfo is not None
    for where, stamp in stamps:
        if (stamp.tzinfo is not None) != first_aware:
            kind = "offset-aware" if stamp.tzinfo is not None else "naive"
            errors.append(
                FieldError(
                    where,
                    f"{kind} datetime in a document whose datetimes are "
                    f"{'offset-aware' if first_aware else 'naive'}: use one style throughout",
                )
            )
            return


def problem_errors(problem: Problem) -> list[FieldError]:
    """Semantic errors of a schema-valid problem."""
    errors: list[FieldError] = []
    check_mixed_datetimes(problem, errors)
    if errors:
        return errors  # comparisons below would raise on mixed datetimes
    hs, he = problem.horizon.start, problem.horizon.end
    if he <= hs:
        errors.append(FieldError("horizon.end", "ends before (or at) horizon.start"))
    for name, items in (
        ("localities", problem.localities),
        ("carers", problem.carers),
        ("clients", problem.clients),
        ("visits", problem.visits),
    ):
        _duplicates(items, name, errors)
    locality_ids = {loc.id for loc in problem.localities}
    client_ids = {c.id for c in problem.clients}
    visit_ids = {v.id for v in problem.visits}

    for i, carer in enumerate(problem.carers):
        for j, loc in enumerate(carer.localities):
            if loc not in locality_ids:
                errors.append(FieldError(f"carers[{i}].localities[{j}]", f"unknown locality {loc!r}"))
        spans = []
        for j, shift in enumerate(carer.shifts):
            where = f"carers[{i}].shifts[{j}]"
            if shift.end <= shift.start:
                errors.append(FieldError(f"{where}.end", "shift ends before (or when) it starts"))
            if shift.start < hs or shift.end > he:
                errors.append(FieldError(where, "shift lies outside the horizon"))
            spans.append((shift.start, shift.end, j))
        spans.sort()
        for (_s0, e0, j0), (s1, _e1, j1) in itertools.pairwise(spans):
            if s1 < e0:
                errors.append(
                    FieldError(f"carers[{i}].shifts[{j1}]", f"overlaps shifts[{j0}] of the same carer")
                )
    for i, client in enumerate(problem.clients):
        if client.locality is not None and client.locality not in locality_ids:
            errors.append(FieldError(f"clients[{i}].locality", f"unknown locality {client.locality!r}"))
    for i, visit in enumerate(problem.visits):
        where = f"visits[{i}]"
        if visit.client_id not in client_ids:
            errors.append(FieldError(f"{where}.client_id", f"unknown client {visit.client_id!r}"))
        if visit.latest_start < visit.earliest_start:
            errors.append(FieldError(f"{where}.latest_start", "window ends before earliest_start"))
        if visit.earliest_start < hs or visit.latest_start > he:
            errors.append(FieldError(where, "visit window lies outside the horizon"))
        if visit.follows is not None:
            target = visit.follows.visit_id
            if target not in visit_ids:
                errors.append(FieldError(f"{where}.follows.visit_id", f"unknown visit {target!r}"))
            elif target == visit.id:
                errors.append(FieldError(f"{where}.follows.visit_id", "a visit cannot follow itself"))
    errors.extend(_travel_errors(problem))
    return errors


def _travel_errors(problem: Problem) -> list[FieldError]:
    travel = problem.travel
    errors: list[FieldError] = []
    if travel.source == "matrix":
        if not travel.keys or not travel.minutes:
            return [FieldError("travel", "a matrix source needs 'keys' and 'minutes'")]
        n = len(travel.keys)
        if len(set(travel.keys)) != n:
            errors.append(FieldError("travel.keys", "duplicate keys"))
        if "drive" not in travel.minutes:
            errors.append(FieldError("travel.minutes", "needs a 'drive' matrix (the fallback mode)"))
        for mode, rows in travel.minutes.items():
            if mode not in ("drive", "walk", "cycle", "public_transport"):
                errors.append(FieldError(f"travel.minutes.{mode}", "unknown travel mode"))
            if len(rows) != n or any(len(row) != n for row in rows):
                errors.append(FieldError(f"travel.minutes.{mode}", f"must be {n} x {n} (one per key)"))
            elif any(x < 0 for row in rows for x in row):
                errors.append(FieldError(f"travel.minutes.{mode}", "negative travel minutes"))
        keys = set(travel.keys)
        for i, carer in enumerate(problem.carers):
            if f"home:{carer.id}" not in keys:
                errors.append(FieldError(f"carers[{i}].home", f"no 'home:{carer.id}' in travel.keys"))
        for i, client in enumerate(problem.clients):
            if f"client:{client.id}" not in keys:
                errors.append(
                    FieldError(f"clients[{i}].location", f"no 'client:{client.id}' in travel.keys")
                )
    elif travel.source == "osm" and not travel.path:
        errors.append(FieldError("travel.path", "an osm source needs 'path' (a local .osm/.graphml/.npz)"))
    return errors


def load_problem(source: str | Path | bytes | dict[str, Any]) -> Problem:
    """Parse and check a problem document; raise DocumentError naming each bad field."""
    problem = _parse(Problem, read_json(source, "problem"), "problem")
    errors = problem_errors(problem)
    if errors:
        raise DocumentError(errors, "problem")
    return problem


def load_solution(source: str | Path | bytes | dict[str, Any]) -> Solution:
    """Parse a solution document (its rules are checked by `optimiser.validate`)."""
    solution = _parse(Solution, read_json(source, "solution"), "solution")
    errors: list[FieldError] = []
    check_mixed_datetimes(solution, errors)
    if errors:
        raise DocumentError(errors, "solution")
    return solution


def load_district(source: str | Path | bytes | dict[str, Any]) -> District:
    """Parse and check a district document: each provider must be a valid problem."""
    district = _parse(District, read_json(source, "district"), "district")
    errors: list[FieldError] = []
    check_mixed_datetimes(district, errors)
    _duplicates(district.providers, "providers", errors)
    if errors:
        raise DocumentError(errors, "district")
    return district


def load_package(source: str | Path | bytes | dict[str, Any]) -> Package:
    return _parse(Package, read_json(source, "package"), "package")


def route_errors(routes: list[Route], carer_ids: set[str], path: str) -> list[FieldError]:
    """Unknown carers in a rota (a district's committed rota or a solution)."""
    return [
        FieldError(f"{path}[{i}].carer_id", f"unknown carer {r.carer_id!r}")
        for i, r in enumerate(routes)
        if r.carer_id not in carer_ids
    ]
