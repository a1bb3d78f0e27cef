"""report.md and the quality-against-time plot from results rows.

Ratios: `vs best peer` is a row's objective over the best objective any peer
(any solver but carerota) reached with a valid rota of the whole problem (no
visit dropped as unmodellable) on the same instance and time limit; `vs BKS`
is the set's own cost over the best-known value in `bks.csv`. Both are below 1
when better.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
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


def table(rows: Sequence[Row]) -> list[str]:
    peers = best_peer(rows)
    hhcrsp = any("set_cost" in r for r in rows)
    head = ["instance", "solver", "limit s", "visits", "care min %", "travel min", "objective",
            "vs best peer"]
    if hhcrsp:
        head += ["set cost", "BKS", "vs BKS"]
    head += ["valid", "wall s", "peak MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r.get("error"):
            cells = [_name(r), r["solver"], _num(r["time_limit"])] + [""] * (len(head) - 4)
            lines.append("| " + " | ".join([*cells, f"error: {r['error'][:80]}"]) + " |")
            continue
        care = (100 * r["care_minutes_covered"] / r["care_minutes_total"]
                if r.get("care_minutes_total") else None)
        cells = [
            _name(r), r["solver"], _num(r["time_limit"]),
            f"{r['visits_covered']}/{r['visits_total']}", _num(care, 1),
            _num(r["travel_minutes"]), _num(r["objective"]),
            _ratio(r["objective"], peers.get(_key(r))) if r.get("valid") else "–",
        ]
        if hhcrsp:
            cells += [_num(r.get("set_cost"), 3), _num(r.get("bks"), 3),
                      _ratio(r.get("set_cost"), r.get("bks"))]
        cells += ["yes" if r.get("valid") else f"NO ({r.get('violations')})",
                  _num(r.get("wall_seconds"), 1), _num(r.get("peak_memory_mb"))]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def summary(rows: Sequence[Row]) -> list[str]:
    """Per solver and time limit: rows, valid rows, mean ratio to best peer and to BKS."""
    peers = best_peer(rows)
    groups: dict[tuple[str, float], list[Row]] = defaultdict(list)
    for r in rows:
        groups[r["solver"], r["time_limit"]].append(r)
    lines = ["| solver | limit s | rows | valid | mean vs best peer | mean vs BKS |",
             "|---|---|---|---|---|---|"]
    for (solver, limit), group in sorted(groups.items()):
        ok = [r for r in group if r.get("valid") and not r.get("error")]
        vs_peer = [r["objective"] / peers[_key(r)] for r in ok if peers.get(_key(r))]
        vs_bks = [r["bks_ratio"] for r in ok if r.get("bks_ratio")]
        lines.append(f"| {solver} | {_num(limit)} | {len(group)} | {len(ok)} | "
                     f"{f'{mean(vs_peer):.3f}' if vs_peer else '–'} | "
                     f"{f'{mean(vs_bks):.3f}' if vs_bks else '–'} |")
    return lines


def notes(rows: Sequence[Row], skipped: Sequence[str]) -> list[str]:
    out = [f"- skipped: {s}" for s in skipped]
    for r in rows:
        where = f"{_name(r)} / {r['solver']} / {_num(r['time_limit'])} s"
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
    visits, incomplete set solutions) are left out. Returns a message instead of
    plotting when matplotlib (the 'plot' extra) is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install 'carerota[plot]')"
    best = best_any(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_solver: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        q = _quality(r, best)
        if q and r.get("wall_seconds"):
            by_solver[r["solver"]].append((r["wall_seconds"], q))
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
        f"{', '.join(_num(t) for t in header.get('time_limits', []))} s",
    ]
    if interrupted:
        lines += ["", f"**Interrupted**: {len(rows)} finished row(s) kept."]
    lines += ["", "## Summary", "", *summary(rows), "", "## Rows", "", *table(rows), ""]
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
