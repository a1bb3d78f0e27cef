"""Generated districts: several providers, each a generated problem with its committed rota.

Why: package matching needs realistic districts to test and measure against
(spec/brokerage.md), and real ones are not public. Each provider is a
`optimiser.generate` problem (its own seed) whose rota the rota engine builds;
visits the engine could not place are dropped, so every visit of a provider is
covered by its rota, as the contract requires. Ids are prefixed with the
provider id so a district file reads unambiguously.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from optimiser.construct import construct
from optimiser.domain.compiled import compile_problem
from optimiser.domain.documents import (
    CONTRACT_ORDER,
    District,
    Problem,
    Provider,
    Solution,
)
from optimiser.generate import GeneratorOptions, generate
from optimiser.plan import to_solution
from optimiser.prune import build_eligibility

log = logging.getLogger(__name__)

RATINGS: tuple[tuple[str, float], ...] = (
    ("outstanding", 0.05), ("good", 0.7), ("requires_improvement", 0.18),
    ("inadequate", 0.02), ("not_rated", 0.05),
)


@dataclass(frozen=True)
class DistrictOptions:
    """What to generate. Same options (seed included), same district.

    providers, carers (per provider), clients (per provider), days: sizes.
    demand_ratio: the generator's load (care minutes over shift minutes), varied
    per provider from 0.6x to 1.2x so that some providers have room and some do not.
    polish_seconds: 0 = committed rotas from the construction heuristic alone
    (fast); more = rota-engine search.
    """

    providers: int = 5
    carers: int = 15
    clients: int = 20
    days: int = 7
    seed: int = 0
    demand_ratio: float = 0.5
    localities: int = 4
    polish_seconds: float = 0.0


def generate_district(opts: DistrictOptions) -> District:
    """A district of generated providers whose rotas cover all their visits."""
    rng = random.Random(opts.seed)
    providers = [_provider(opts, i, rng) for i in range(opts.providers)]
    first = providers[0] if providers else None
    problem0 = _problem(opts, 0)
    return District(
        id=f"district-{opts.providers}p-{opts.carers}c-{opts.days}d-s{opts.seed}",
        horizon=problem0.horizon if first is not None else None,
        localities=problem0.localities,
        providers=providers,
    )


def _problem(opts: DistrictOptions, i: int) -> Problem:
    # Providers differ in how full they are: from 60% to 120% of demand_ratio.
    load = opts.demand_ratio * (0.6 + 0.6 * random.Random(opts.seed * 1000 + i).random())
    return generate(GeneratorOptions(
        carers=opts.carers, clients=opts.clients, days=opts.days, seed=opts.seed * 1000 + i,
        demand_ratio=load, localities=opts.localities,
    ))


def committed_rota(problem: Problem, polish_seconds: float = 0.0) -> Solution:
    """The rota engine's rota for a provider problem (construction, optionally searched)."""
    compiled = compile_problem(problem)
    if polish_seconds > 0:
        from optimiser.solve import SolveOptions, solve

        return solve(compiled, SolveOptions(time_limit=polish_seconds, workers=1, seed=0))
    el = build_eligibility(compiled)
    plan = construct(compiled, el)
    reasons = {v.index: el.reasons[v.index] for v in compiled.visits if el.reasons[v.index]}
    return to_solution(compiled, el, plan, "feasible", 0.0, reasons)


def _provider(opts: DistrictOptions, i: int, rng: random.Random) -> Provider:
    pid = f"p{i + 1:02d}"
    problem = _problem(opts, i)
    rota = committed_rota(problem, opts.polish_seconds)
    dropped = {u.visit_id for u in rota.unassigned}
    # A follows partner of a dropped visit binds nothing, but a 0-0 partner must go too.
    for v in problem.visits:
        if v.follows is not None and v.follows.visit_id in dropped and v.follows.max_gap_minutes == 0:
            dropped.add(v.id)
    # A dropped visit's follower keeps its window but loses the link (nothing to follow).
    kept = [v.model_copy(update={"follows": None}) if v.follows and v.follows.visit_id in dropped
            else v for v in problem.visits if v.id not in dropped]
    kept_ids = {v.id for v in kept}
    routes = []
    for r in rota.routes:
        stops = [s for s in r.stops if s.visit_id in kept_ids]
        if stops:
            routes.append(r.model_copy(update={"stops": stops}))
    home = [c.locality for c in problem.clients if c.locality]
    counts = {loc: home.count(loc) for loc in set(home)}
    served = sorted(counts, key=lambda loc: (-counts[loc], loc))[: max(1, len(counts) // 2)]
    names = [r for r, _ in RATINGS]
    rating = rng.choices(names, weights=[w for _, w in RATINGS])[0]
    contract = CONTRACT_ORDER[i % len(CONTRACT_ORDER)]
    data: dict[str, Any] = {
        "id": pid, "name": f"Provider {i + 1}", "cqc_rating": rating, "contract": contract,
        "localities": sorted(served), "hourly_rate": round(rng.uniform(19.0, 26.0), 2),
        "carers": [c.model_dump(mode="json") for c in problem.carers],
        "clients": [c.model_dump(mode="json", exclude_none=True) for c in problem.clients],
        "visits": [v.model_dump(mode="json", exclude_none=True) for v in kept],
        "rota": {"routes": [r.model_dump(mode="json") for r in routes]},
    }
    log.info("provider %s: %d visits committed (%d dropped)", pid, len(kept), len(dropped))
    return Provider.model_validate(_prefixed(data, pid))


def _prefixed(data: dict[str, Any], pid: str) -> dict[str, Any]:
    """Prefix carer, client and visit ids (and every reference to them) with the provider id."""
    def p(x: str) -> str:
        return f"{pid}-{x}"

    for c in data["carers"]:
        c["id"] = p(c["id"])
        c["provider_id"] = pid
    for c in data["clients"]:
        c["id"] = p(c["id"])
        c["preferred_carers"] = [p(x) for x in c.get("preferred_carers", [])]
        c["excluded_carers"] = [p(x) for x in c.get("excluded_carers", [])]
    for v in data["visits"]:
        v["id"] = p(v["id"])
        v["client_id"] = p(v["client_id"])
        if v.get("follows"):
            v["follows"]["visit_id"] = p(v["follows"]["visit_id"])
    for r in data["rota"]["routes"]:
        r["carer_id"] = p(r["carer_id"])
        for s in r["stops"]:
            s["visit_id"] = p(s["visit_id"])
    return data


