"""Carers as a rota planner's spreadsheet: one row per shift.

Columns `id,home_lat,home_lon,travel_mode,skills,gender,shift_start,shift_end`
(skills separated by `;`), optionally `max_work_minutes_per_day`, `localities`
(`;`-separated), `max_leg_minutes`, `cost_per_hour` and `home_postcode`. Rows
of one carer repeat the carer's columns and differ in the shift; a carer with
no shift has empty shift cells. Rows are numbered as a spreadsheet shows them
(the header is row 1), so every error names the row and the column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from optimiser.domain.documents import TRAVEL_MODES, Carer, Shift
from optimiser.domain.errors import DocumentError, FieldError

REQUIRED = ("id", "home_lat", "home_lon", "travel_mode", "skills", "gender",
            "shift_start", "shift_end")
OPTIONAL = ("max_work_minutes_per_day", "localities", "max_leg_minutes", "cost_per_hour",
            "home_postcode")
COLUMNS = REQUIRED + OPTIONAL
CARER_COLUMNS = tuple(c for c in COLUMNS if c not in ("id", "shift_start", "shift_end"))
KIND = "carers CSV"

TEMPLATE_ROWS = (
    ("amira", "53.925", "-1.822", "drive", "hoist;medication", "female",
     "2026-11-30T07:00", "2026-11-30T14:00", "600", "ilkley", "", "12.0", ""),
    ("amira", "53.925", "-1.822", "drive", "hoist;medication", "female",
     "2026-11-30T17:00", "2026-11-30T21:00", "600", "ilkley", "", "12.0", ""),
    ("ben", "53.921", "-1.83", "walk", "hoist", "male",
     "2026-11-30T07:30", "2026-11-30T13:00", "", "ilkley", "25", "", ""),
)

_DATETIME = TypeAdapter(datetime)


def where(row: int, column: str) -> str:
    return f"row {row}, column {column}"


class _Row:
    """One data row's cells, converted one column at a time with errors collected."""

    def __init__(self, number: int, cells: dict[str, str], errors: list[FieldError]) -> None:
        self.number = number
        self.cells = cells
        self.errors = errors

    def text(self, column: str) -> str:
        return (self.cells.get(column) or "").strip()

    def convert(self, column: str, parse: Callable[[str], Any]) -> Any:
        """The cell parsed, None when empty, and an error naming row and column when bad."""
        value = self.text(column)
        if not value:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            self.errors.append(FieldError(where(self.number, column), f"{exc}: {value!r}"))
            return None


def _number(lo: float | None, hi: float | None, integer: bool) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            number: float | int = int(text) if integer else float(text)
        except ValueError:
            raise ValueError("not a whole number" if integer else "not a number") from None
        if number != number or (lo is not None and number < lo) or (hi is not None and number > hi):
            raise ValueError(f"must be between {lo} and {hi}" if hi is not None
                             else f"must be at least {lo}")
        return number
    return parse


def _mode(text: str) -> str:
    if text not in TRAVEL_MODES:
        raise ValueError(f"travel_mode must be one of {', '.join(TRAVEL_MODES)}")
    return text


def _datetime(text: str) -> datetime:
    try:
        return _DATETIME.validate_python(text)
    except ValidationError:
        raise ValueError("not a date-time like 2026-11-30T07:00") from None


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _carer_fields(row: _Row) -> dict[str, Any]:
    """The carer-level columns of a row as Carer fields (unset when the cell is empty)."""
    home: dict[str, Any] = {}
    lat_text, lon_text = row.text("home_lat"), row.text("home_lon")
    lat = row.convert("home_lat", _number(-90, 90, False))
    lon = row.convert("home_lon", _number(-180, 180, False))
    if bool(lat_text) != bool(lon_text):
        missing = "home_lon" if lat_text else "home_lat"
        row.errors.append(FieldError(where(row.number, missing),
                                     "home_lat and home_lon must be given together"))
    if lat is not None and lon is not None:
        home = {"lat": lat, "lon": lon}
    if row.text("home_postcode"):
        home["postcode"] = row.text("home_postcode")
    if not (home or lat_text or lon_text):
        row.errors.append(FieldError(where(row.number, "home_lat"),
                                     "a carer needs home_lat and home_lon (or home_postcode)"))
    fields: dict[str, Any] = {
        "home": home,
        "travel_mode": row.convert("travel_mode", _mode),
        "skills": _listed(row.text("skills")) or None,
        "gender": row.text("gender") or None,
        "max_work_minutes_per_day": row.convert("max_work_minutes_per_day", _number(1, None, True)),
        "localities": _listed(row.text("localities")) or None,
        "max_leg_minutes": row.convert("max_leg_minutes", _number(0, None, True)),
        "cost_per_hour": row.convert("cost_per_hour", _number(0, None, False)),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _shift(row: _Row) -> dict[str, Any] | None:
    start = row.convert("shift_start", _datetime)
    end = row.convert("shift_end", _datetime)
    given = (bool(row.text("shift_start")), bool(row.text("shift_end")))
    if given == (False, False):
        return None
    if given != (True, True):
        missing = "shift_end" if given[0] else "shift_start"
        row.errors.append(FieldError(where(row.number, missing),
                                     "shift_start and shift_end must be given together"))
        return None
    if start is None or end is None:
        return None
    if (start.tzinfo is None) != (end.tzinfo is None):
        row.errors.append(FieldError(where(row.number, "shift_end"),
                                     "mixes a naive and an offset-aware time"))
        return None
    if end <= start:
        row.errors.append(FieldError(where(row.number, "shift_end"),
                                     "shift ends before (or when) it starts"))
        return None
    return {"start": start, "end": end}


def _header(fieldnames: Sequence[str] | None) -> list[FieldError]:
    if not fieldnames:
        return [FieldError("row 1", f"no header row: expected {','.join(REQUIRED)}")]
    names = [name.strip().lower() for name in fieldnames]
    errors = [FieldError(f"row 1, column {n}", "unknown column; expected one of "
                         + ", ".join(COLUMNS)) for n in names if n not in COLUMNS]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        errors.append(FieldError("row 1", "missing column(s) " + ", ".join(missing)))
    return errors


def parse_carers_csv(data: bytes) -> tuple[list[Carer], dict[tuple[int, int | None], int]]:
    """Carers from CSV bytes, and where each came from: (carer, shift or None) -> row.

    Raises DocumentError listing every bad cell as `row N, column C`.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError([FieldError("", f"not UTF-8 text (byte {exc.start})")], KIND) from exc
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
        header_errors = _header(reader.fieldnames)
        if header_errors:
            raise DocumentError(header_errors, KIND)
        reader.fieldnames = [n.strip().lower() for n in reader.fieldnames or []]
        # line_num, not a count: DictReader skips blank lines a spreadsheet still numbers
        raw_rows = [(reader.line_num, cells) for cells in reader]
    except csv.Error as exc:
        raise DocumentError([FieldError("", f"malformed CSV: {exc}")], KIND) from exc

    errors: list[FieldError] = []
    carers: dict[str, dict[str, Any]] = {}
    first_row: dict[str, tuple[int, dict[str, str]]] = {}
    origin: dict[tuple[int, int | None], int] = {}
    for number, cells in raw_rows:
        if cells.get("\0extra"):
            errors.append(FieldError(f"row {number}", "more cells than header columns"))
        row = _Row(number, cells, errors)
        carer_id = row.text("id")
        if not carer_id:
            if any(row.text(c) for c in COLUMNS):
                errors.append(FieldError(where(number, "id"), "a carer id is required"))
            continue  # blank lines are common in spreadsheet exports
        if carer_id not in carers:
            carers[carer_id] = {"id": carer_id, **_carer_fields(row), "shifts": []}
            first_row[carer_id] = (number, cells)
            origin[(len(carers) - 1, None)] = number
        else:
            first, first_cells = first_row[carer_id]
            for column in CARER_COLUMNS:
                if row.text(column) != (first_cells.get(column) or "").strip():
                    errors.append(FieldError(where(number, column),
                                             f"differs from row {first} for carer {carer_id!r}"))
        shift = _shift(row)
        if shift is not None:
            index = list(carers).index(carer_id)
            origin[(index, len(carers[carer_id]["shifts"]))] = number
            carers[carer_id]["shifts"].append(shift)
    result: list[Carer] = []
    if not errors:
        for i, fields in enumerate(carers.values()):
            try:
                result.append(Carer.model_validate(fields))
            except ValidationError as exc:
                errors.append(FieldError(f"row {origin[(i, None)]}", str(exc.errors()[0]["msg"])))
    if errors:
        raise DocumentError(errors, KIND)
    return result, origin


_CARER_PATH = re.compile(r"^carers\[(\d+)\](?:\.shifts\[(\d+)\])?(.*)$")


Origin = dict[tuple[int, int | None], int]


def rows_of(errors: list[FieldError], origin: Origin) -> list[FieldError]:
    """Rewrite `carers[i].shifts[j]...` paths of provider checks as spreadsheet rows."""
    out = []
    for e in errors:
        m = _CARER_PATH.match(e.path)
        if m is None:
            out.append(e)
            continue
        carer, shift, rest = int(m.group(1)), m.group(2), m.group(3)
        key = (carer, int(shift)) if shift is not None else (carer, None)
        row = origin.get(key, origin.get((carer, None)))
        if shift is not None:
            column = {".start": "shift_start", ".end": "shift_end", "": "shift_start"}.get(
                rest, rest.lstrip(".").split("[")[0])
        elif rest.startswith(".home"):  # the home is two or three cells
            column = "home_postcode" if rest.endswith(".postcode") else "home_lat"
        else:
            column = rest.lstrip(".").split("[")[0] or "id"
        out.append(FieldError(where(row, column) if row else e.path, e.message))
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def render_carers_csv(carers: list[Carer]) -> str:
    """The carers as CSV rows, one per shift: what `parse_carers_csv` reads back."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for carer in carers:
        base = [carer.id, _cell(carer.home.lat), _cell(carer.home.lon), carer.travel_mode,
                _cell(carer.skills), _cell(carer.gender)]
        rest = [_cell(carer.max_work_minutes_per_day), _cell(carer.localities),
                _cell(carer.max_leg_minutes), _cell(carer.cost_per_hour),
                _cell(carer.home.postcode)]
        shifts: list[Shift | None] = list(carer.shifts) or [None]
        for shift in shifts:
            times = [_cell(shift.start), _cell(shift.end)] if shift else ["", ""]
            writer.writerow(base + times + rest)
    return buffer.getvalue()


def template_csv() -> str:
    """A filled-in example a planner can open in a spreadsheet and overwrite."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(TEMPLATE_ROWS)
    return buffer.getvalue()
