"""carerota's optimiser: the domain model, the validator and the CP-SAT core.

Pure: imports no web, database or map library (a test keeps it so).
"""

from optimiser.domain.compiled import CompiledProblem, compile_problem
from optimiser.domain.documents import District, Package, Problem, Solution
from optimiser.domain.errors import DocumentError, FieldError
from optimiser.domain.loading import load_district, load_package, load_problem, load_solution
from optimiser.match import MatchOptions, match
from optimiser.solve import SolveOptions, solve
from optimiser.validate import Violation, validate

__all__ = [
    "CompiledProblem",
    "District",
    "DocumentError",
    "FieldError",
    "MatchOptions",
    "Package",
    "Problem",
    "Solution",
    "SolveOptions",
    "Violation",
    "compile_problem",
    "load_district",
    "load_package",
    "load_problem",
    "load_solution",
    "match",
    "solve",
    "validate",
]
