"""Tail exchange (2-opt*): swaps the afternoons of two carers when that saves travel, keeps
every rule, never makes a rota worse and never moves a kept visit."""

from __future__ import annotations

import random
import time
from typing import Any

from optimiser.construct import construct
from optimiser.domain.compiled import CompiledProblem, compile_problem
from optimiser.domain.documents import Problem
from optimiser.exchange import exchange_tails
from optimiser.generate import GeneratorOptions, generate
from optimiser.local import relocate
from optimiser.plan import Plan, score, to_solution
from optimiser.prune import Eligibility, build_eligibility
from optimiser.validate import validate

WEST, EAST = (53.92, -1.90), (53.92, -1.70)  # about 13 km apart


def _crossed(afternoon_skill: str | None = None) -> tuple[CompiledProblem, Eligibility, Plan]:
    """Two carers living west and east; a west and an east client each at 09:00 and 14:00
    (fixed minutes), and a rota where each carer crosses town for the afternoon. No single
    relocation uncrosses it: each carer is busy at 14:00 with the other's afternoon call."""
    def place(at: tuple[float, float]) -> dict[str, float]:
        return {"lat": at[0], "lon": at[1]}

    def carer(cid: str, home: tuple[float, float]) -> dict[str, Any]:
        return {"id": cid, "home": place(home), "travel_mode": "drive",
                "skills": ["hoist"] if cid == "east" else [],
                "shifts": [{"start": "2026-11-30T08:00", "end": "2026-11-30T17:00"}]}

    def visit(vid: str, client: str, at: str, skills: list[str]) -> dict[str, Any]:
        return {"id": vid, "client_id": client, "earliest_start": f"2026-11-30T{at}",
                "latest_start": f"2026-11-30T{at}", "duration_minutes": 60, "skills": skills}

    doc = Problem.model_validate({
        "format": "carerota/1", "id": "crossed",
        "horizon": {"start": "2026-11-30T00:00", "end": "2026-12-01T00:00"},
        "carers": [carer("west", WEST), carer("east", EAST)],
        "clients": [{"id": "w", "location": place(WEST)}, {"id": "e", "location": place(EAST)}],
        "visits": [visit("w-am", "w", "09:00", []), visit("e-am", "e", "09:00", []),
                   visit("w-pm", "w", "14:00", [afternoon_skill] if afternoon_skill else []),
                   visit("e-pm", "e", "14:00", [])],
    })
    p = compile_problem(doc)
    el = build_eligibility(p)
    v = p.visit_index
    k_west = next(k for k, veh in enumerate(el.vehicles) if p.carers[veh.carer].id == "west")
    plan = Plan.empty(len(el.vehicles))
    plan.routes[k_west] = [v["w-am"], v["e-pm"]]
    plan.routes[1 - k_west] = [v["e-am"], v["w-pm"]]
    plan.start = {i: (9 * 60 if "am" in vid else 14 * 60) for vid, i in v.items()}
    assert validate(p, to_solution(p, el, plan, "feasible", 0.0, {})) == []
    return p, el, plan


def _valid(p: CompiledProblem, el: Eligibility, plan: Plan) -> bool:
    return validate(p, to_solution(p, el, plan, "feasible", 0.0, {})) == []


def test_crossed_afternoons_are_swapped() -> None:
    p, el, plan = _crossed()
    new = exchange_tails(p, el, plan, time.monotonic() + 10)
    by_carer = {p.carers[el.vehicles[k].carer].id: [p.visits[v].id for v in r]
                for k, r in enumerate(new.routes)}
    assert by_carer == {"west": ["w-am", "w-pm"], "east": ["e-am", "e-pm"]}
    assert score(p, el, new).travel_minutes < score(p, el, plan).travel_minutes
    assert new.start == plan.start  # every stop keeps its minute
    assert _valid(p, el, new)


def test_no_single_relocation_uncrosses_them() -> None:
    """Why the move exists: the best-place relocation leaves this rota as it is."""
    p, el, plan = _crossed()
    moved = relocate(p, el, plan, time.monotonic() + 10, random.Random(0))
    assert score(p, el, moved).total == score(p, el, plan).total


def test_a_tail_goes_only_to_a_carer_who_may_do_it() -> None:
    """The west client's afternoon call needs a hoist only the east carer has: nothing moves."""
    p, el, plan = _crossed(afternoon_skill="hoist")
    new = exchange_tails(p, el, plan, time.monotonic() + 10)
    assert new.routes == plan.routes
    assert _valid(p, el, new)


def test_kept_visits_stay() -> None:
    p, el, plan = _crossed()
    keep = frozenset({p.visit_index["e-pm"]})
    new = exchange_tails(p, el, plan, time.monotonic() + 10, keep=keep)
    assert new.routes == plan.routes


def test_generated_rota_gets_better_and_stays_valid() -> None:
    """Double-ups, walkers, localities, caps and breaks: from a relocation optimum of a
    generated three days (one where exchanges pay), the exchange keeps every rule and the
    covered visits, and lowers the objective."""
    p = compile_problem(generate(GeneratorOptions(carers=12, clients=30, days=3, seed=7,
                                                  demand_ratio=0.6)))
    el = build_eligibility(p)
    plan = relocate(p, el, construct(p, el), time.monotonic() + 60, random.Random(0))
    new = exchange_tails(p, el, plan, time.monotonic() + 30)
    assert score(p, el, new).total < score(p, el, plan).total
    assert set(new.start) == set(plan.start) and new.start == plan.start
    assert _valid(p, el, new)
