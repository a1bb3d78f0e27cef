"""Package-matching benchmark: the issue's targets on generated districts.

`python -m benchmarks.match_bench [--providers 20 80] [--time-limit 2 10]`
builds a district of N providers x 15 carers with 7-day committed rotas and
matches a 14-visit double-handed package (hoist, 08:00 and 17:30 daily) to
it, reporting the ranked answer's wall-clock time, how many providers can
take it whole, and how many needed CP-SAT repair. District generation is
not timed.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from optimiser.district import DistrictOptions, generate_district
from optimiser.domain.documents import Package
from optimiser.match import MatchOptions, match

PACKAGE = {
    "id": "pkg-bench", "client": {"id": "bench-client", "location": {"lat": 53.872, "lon": -1.768}},
    "start": "2026-11-30", "days": 7, "urgency": "hospital_discharge",
    "calls": [{"time": t, "tolerance_minutes": 30, "duration_minutes": 45, "carers_required": 2,
               "skills": ["hoist"], "priority": "high"} for t in ("08:00", "17:30")],
}


def run(providers: int, time_limit: float, seed: int = 0, workers: int = 0) -> dict:
    """One measured match; returns the figures as a dict."""
    t0 = time.monotonic()
    district = generate_district(DistrictOptions(providers=providers, carers=15, clients=25, days=7,
                                                 seed=seed))
    built = time.monotonic() - t0
    visits = sum(len(p.visits) for p in district.providers)
    package = Package.model_validate(PACKAGE)
    t1 = time.monotonic()
    result = match(district, package, MatchOptions(time_limit=time_limit, workers=workers, seed=seed))
    seconds = time.monotonic() - t1
    top = result.placements[0] if result.placements else None
    return {
        "providers": providers, "committed_visits": visits, "package_visits": len(result.package_visits),
        "considered": len(result.placements), "time_limit": time_limit,
        "answer_seconds": round(seconds, 2), "district_build_seconds": round(built, 1),
        "feasible": sum(pl.feasible for pl in result.placements),
        "repaired": sum(pl.repaired for pl in result.placements),
        "top": top and {"provider": top.provider_id, "tier": top.tier, "feasible": top.feasible,
                        "covered": top.covered_visits, "added_travel_minutes": top.added_travel_minutes,
                        "added_cost": top.added_cost, "moved": len(top.moved_visits)},
        "split": bool(result.split), "suggestions": result.suggestions[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, nargs="+", default=[20, 80])
    parser.add_argument("--time-limit", type=float, nargs="+", default=[2.0, 10.0],
                        help="one per --providers value (the issue's targets)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    limits = args.time_limit + [args.time_limit[-1]] * (len(args.providers) - len(args.time_limit))
    for n, limit in zip(args.providers, limits, strict=False):
        print(json.dumps(run(n, limit, args.seed, args.workers)))


if __name__ == "__main__":
    main()
