"""report.md and the quality-against-time plot from results rows.

Ratios: `vs best peer` is a row's objective over the best objective any peer
(any solver but carerota) reached with a valid rota of the whole problem (no
visit dropped as unmodellable) on the same instance and time limit; `vs BKS`
is the set's own cost over the best-known value in `bks.csv`. Both are below 1
when better. When several seeds ran, each (instance, solver, time limit) also
gets its headline figures' mean, min and max over the seeds, and the plot shows
the mean.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import mean
from typing import Any

log = logging.getLogger(__name__)

Row = dict[str, Any]


def _key(row: Row) -> tuple[str, float]:
    return row["instance"], row["time_limit"]


def best_peer(rows: Sequence[Row]) -> dict[tuple[str, float], float]:
    """Best peer objective per (instance, time limit), over valid rows of complete models.

    A peer that dropped visits it cannot model solved a different, smaller
    problem: its objective is no yardstick, so it does not count here.
    """
    best: dict[tuple[str, float], float] = {}
    for r in rows:
        if (r.get("solver") != "carerota" and r.get("valid") and r.get("objective") is not None
                and not r.get("dropped_unmodellable")):
            k = _key(r)
            best[k] = min(best.get(k, r["objective"]), r["objective"])
    return best


def best_any(rows: Sequence[Row]) -> dict[str, float]:
    """Best valid objective per instance over every solver and time limit (plot baseline)."""
    best: dict[str, float] = {}
    for r in rows:
        if r.get("valid") and r.get("objective") is not None:
            best[r["instance"]] = min(best.get(r["instance"], r["objective"]), r["objective"])
    return best


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def _ratio(num: float | None, den: float | None) -> str:
    if num is None or not den:
        return "–"
    return f"{num / den:.3f}"


def _name(row: Row) -> str:
    """The instance as a reader knows it: its bks.csv code when it has one."""
    return row.get("code") or row["instance"]


def seeds_of(rows: Sequence[Row]) -> list[int]:
    """The seeds the rows ran with, in order of first appearance (none for rows without one)."""
    return list(dict.fromkeys(r["seed"] for r in rows if r.get("seed") is not None))


def _care_percent(row: Row) -> float | None:
    total = row.get("care_minutes_total")
    return 100 * row["care_minutes_covered"] / total if total else None


def _cost_over(key: str) -> Callable[[Row], float | None]:
    """A row's set cost over its `key` value (`bks` or `bks_verified`), unrounded (the rows'
    own `bks_ratio` and `bks_verified_ratio` are rounded to 4 places)."""
    def ratio(row: Row) -> float | None:
        if row.get("set_cost") is None or not row.get(key):
            return None
        return float(row["set_cost"] / row[key])
    return ratio


def _run_of(row: Row, several_seeds: bool) -> list[Any]:
    """The cells naming a row's run: instance, solver, limit and, when several ran, its seed."""
    cells = [_name(row), row["solver"], _num(row["time_limit"])]
    return [*cells, row.get("seed", "–")] if several_seeds else cells


def table(rows: Sequence[Row]) -> list[str]:
    peers = best_peer(rows)
    hhcrsp = any("set_cost" in r for r in rows)
    several = len(seeds_of(rows)) > 1
    head = ["instance", "solver", "limit s", *(["seed"] if several else []), "visits",
            "care min %", "travel min", "objective", "vs best peer"]
    if hhcrsp:
        head += ["set cost", "BKS", "vs BKS", "vs verified"]
    head += ["valid", "wall s", "peak MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        run = _run_of(r, several)
        if r.get("error"):
            cells = [*run, *[""] * (len(head) - len(run) - 1)]
            lines.append("| " + " | ".join([*map(str, cells), f"error: {r['error'][:80]}"]) + " |")
            continue
        cells = [
            *run,
            f"{r['visits_covered']}/{r['visits_total']}", _num(_care_percent(r), 1),
            _num(r["travel_minutes"]), _num(r["objective"]),
            _ratio(r["objective"], peers.get(_key(r))) if r.get("valid") else "–",
        ]
        if hhcrsp:
            cells += [_num(r.get("set_cost"), 3), _num(r.get("bks"), 3),
                      _ratio(r.get("set_cost"), r.get("bks")),
                      _ratio(r.get("set_cost"), r.get("bks_verified"))]
        cells += ["yes" if r.get("valid") else f"NO ({r.get('violations')})",
                  _num(r.get("wall_seconds"), 1), _num(r.get("peak_memory_mb"))]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def summary(rows: Sequence[Row]) -> list[str]:
    """Per solver and time limit: rows, valid rows, mean ratio to best peer, to BKS and to
    the best published rota the evaluator reproduces (`bks_verified`: B6 and C9 differ)."""
    peers = best_peer(rows)
    groups: dict[tuple[str, float], list[Row]] = defaultdict(list)
    for r in rows:
        groups[r["solver"], r["time_limit"]].append(r)
    lines = ["| solver | limit s | rows | valid | mean vs best peer | mean vs BKS | mean vs verified |",
             "|---|---|---|---|---|---|---|"]
    for (solver, limit), group in sorted(groups.items()):
        ok = [r for r in group if r.get("valid") and not r.get("error")]
        vs_peer = [r["objective"] / peers[_key(r)] for r in ok if peers.get(_key(r))]
        vs_bks = [r["bks_ratio"] for r in ok if r.get("bks_ratio")]
        vs_verified = [r["bks_verified_ratio"] for r in ok if r.get("bks_verified_ratio")]
        lines.append(f"| {solver} | {_num(limit)} | {len(group)} | {len(ok)} | "
                     + " | ".join(f"{mean(v):.3f}" if v else "–"
                                  for v in (vs_peer, vs_bks, vs_verified)) + " |")
    return lines


#: A figure summarised over seeds: its heading, its value in a row (None: not known), and the
#: decimals the rows table shows it with.
Figure = tuple[str, Callable[[Row], float | None], int]

#: The rows table's headline quality figures, per kind of suite.
GENERATED_FIGURES: tuple[Figure, ...] = (
    ("visits", lambda r: r.get("visits_covered"), 0),
    ("care min %", _care_percent, 1),
    ("travel min", lambda r: r.get("travel_minutes"), 0),
    ("objective", lambda r: r.get("objective"), 0),
)
HHCRSP_FIGURES: tuple[Figure, ...] = (
    ("set cost", lambda r: r.get("set_cost"), 3),
    ("vs BKS", _cost_over("bks"), 3),
    ("vs verified", _cost_over("bks_verified"), 3),
)


def _spread(values: Sequence[float], digits: int) -> str:
    """`mean (min–max)`; the mean gets a decimal more than a whole-number figure shows."""
    if not values:
        return "–"
    return (f"{_num(float(mean(values)), max(digits, 1))} "
            f"({_num(min(values), digits)}–{_num(max(values), digits)})")


def over_seeds(rows: Sequence[Row]) -> list[str]:
    """Per (instance, solver, time limit): the headline figures' mean, min and max over seeds.

    Only valid runs count (an invalid rota's figures are no result); `valid`
    says how many of the runs that is. Empty when fewer than two seeds ran.
    """
    seeds = seeds_of(rows)
    if len(seeds) < 2:
        return []
    figures = HHCRSP_FIGURES if any("set_cost" in r for r in rows) else GENERATED_FIGURES
    groups: dict[tuple[str, str, float], list[Row]] = defaultdict(list)
    for r in rows:
        groups[_name(r), r["solver"], r["time_limit"]].append(r)
    head = ["instance", "solver", "limit s", "runs", "valid", *(f[0] for f in figures)]
    lines = [f"Each instance, solver and time limit ran with seeds {', '.join(map(str, seeds))}: "
             "mean (min–max) over its valid runs. Every run is listed under Rows.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (name, solver, limit), group in groups.items():
        ok = [r for r in group if r.get("valid") and not r.get("error")]
        cells = [name, solver, _num(limit), str(len(group)), str(len(ok))]
        for _, value, digits in figures:
            cells.append(_spread([v for v in map(value, ok) if v is not None], digits))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def notes(rows: Sequence[Row], skipped: Sequence[str]) -> list[str]:
    out = [f"- skipped: {s}" for s in skipped]
    several = len(seeds_of(rows)) > 1
    for r in rows:
        where = f"{_name(r)} / {r['solver']} / {_num(r['time_limit'])} s"
        if several:
            where += f" / seed {r.get('seed', '–')}"
        if r.get("error"):
            out.append(f"- {where}: error: {r['error']}")
        if r.get("note"):
            out.append(f"- {where}: {r['note']}")
        if r.get("violation_examples"):
            out.append(f"- {where}: {r['violations']} violation(s), e.g. "
                       + "; ".join(r["violation_examples"]))
        if (r.get("set_cost") is None and "set_feasible" in r and not r.get("error")
                and not r.get("dropped_unmodellable")):
            why = "; ".join(r.get("set_violation_examples") or []) or "incomplete"
            out.append(f"- {where}: no set cost (not a complete feasible set solution: {why})")
    return out


def _quality(row: Row, best: dict[str, float]) -> float | None:
    """Set cost / BKS for published instances, else objective / best on the instance."""
    if row.get("bks"):
        return row["bks_ratio"]
    if row.get("valid") and best.get(row["instance"]) and not row.get("dropped_unmodellable"):
        return row["objective"] / best[row["instance"]]
    return None


def plot(rows: Sequence[Row], path: Path) -> str | None:
    """quality.png: quality (1 = best) against wall seconds, one colour per solver.

    Quality is the set cost over the best-known value on published instances,
    else the objective over the best objective any solver reached on the
    instance. Rows without a meaningful ratio (invalid rotas, peers that dropped
    visits, incomplete set solutions) are left out. One point per (instance,
    solver, time limit): with several seeds, the mean of its runs' seconds and
    quality. Returns a message instead of plotting when matplotlib (the 'plot'
    extra) is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install 'carerota[plot]')"
    best = best_any(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    runs: dict[tuple[str, str, float], list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        q = _quality(r, best)
        if q and r.get("wall_seconds"):
            runs[r["solver"], r["instance"], r["time_limit"]].append((r["wall_seconds"], q))
    by_solver: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for (solver, _, _), points in runs.items():
        by_solver[solver].append((mean(x for x, _ in points), mean(y for _, y in points)))
    for solver, points in sorted(by_solver.items()):
        xs, ys = zip(*sorted(points), strict=True)
        ax.scatter(xs, ys, label=solver, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("wall seconds (log)")
    bks = any(r.get("bks") for r in rows)
    ax.set_ylabel("set cost / best-known" if bks else "objective / best on the instance")
    ax.set_title("Quality against time (1 = best; complete valid rotas only)")
    ax.grid(True, which="both", alpha=0.3)
    if by_solver:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write_report(rows: Sequence[Row], out: Path, header: dict[str, Any],
                 skipped: Sequence[str] = (), interrupted: bool = False) -> Path:
    """Write report.md (and quality.png) into `out`; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    plot_note = plot(rows, out / "quality.png") if rows else "plot skipped: no rows"
    lines = [
        f"# carerota benchmark: {header.get('suite')} suite",
        "",
        f"Command: `{header.get('command', '')}`  ",
        f"Machine: {header.get('machine_text', '')}  ",
        f"Solvers: {', '.join(header.get('solvers', []))}; time limits: "
        f"{', '.join(_num(t) for t in header.get('time_limits', []))} s"
        + (f"; seeds: {', '.join(map(str, header['seeds']))}" if len(header.get("seeds", [])) > 1
           else ""),
    ]
    if interrupted:
        lines += ["", f"**Interrupted**: {len(rows)} finished row(s) kept."]
    lines += ["", "## Summary", "", *summary(rows), ""]
    spread = over_seeds(rows)
    if spread:
        lines += ["## Over seeds", "", *spread, ""]
    lines += ["## Rows", "", *table(rows), ""]
    if plot_note is None:
        lines += ["![quality against time](quality.png)", ""]
    else:
        lines += [plot_note, ""]
    extra = notes(rows, skipped)
    if extra:
        lines += ["## Notes", "", *extra, ""]
    lines += [
        "Objective: the problem's weighted sum recomputed from each rota by the benchmark "
        "(uncovered visits, travel, lateness, preferred start, continuity), not the solver's own "
        "report. Valid: `optimiser.validate` finds no violation. Peers drop what they cannot "
        "model (double-handed visits and visits linked by `follows`). See docs/benchmarks.md.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
