"""The benchmark suites: which instances, built how.

An `InstanceSpec` is a small picklable recipe (generator options, or a path to
a published instance file) so each solve can rebuild its problem inside its
own process: a crash or a memory blow-up stays there, and the peak memory
measured is the solve's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.hhcrsp import PUBLISHED_AT, HhcrspInstance, instance_path, read_bks, read_instance
from optimiser.domain.documents import Problem

SUITES = ("smoke", "standard", "scale", "hhcrsp", "planted")
#: Default --time-limit per suite (seconds).
DEFAULT_TIME_LIMIT = {"smoke": 5.0, "standard": 30.0, "scale": 120.0, "hhcrsp": 30.0,
                      "planted": 30.0}
#: The project root's sibling folder where shared data sets live (../shared/benchmarks).
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
DATA_SETS = {"hhcrsp": "mankowska-2014"}


class SuiteError(ValueError):
    """The suite cannot be built as asked (unknown code, missing data)."""


@dataclass(frozen=True)
class InstanceSpec:
    """How to build one benchmark instance.

    generator: keyword arguments of `optimiser.generate.GeneratorOptions`;
    single_carer: drop every `follows` link too, so the instance is all
    single-carer visits with windows (what every peer models in full);
    hhcrsp: path of a Mankowska instance file, with its code and best-known cost
    (`bks`: the lowest published value; `bks_verified`: the cost of the best published
    rota file, which the set's evaluator reproduces);
    planted: keyword arguments of `benchmarks.planted.planted` (an instance
    built around a hidden rota covering every visit).
    """

    name: str
    suite: str
    generator: dict[str, Any] = field(default_factory=dict)
    hhcrsp: str | None = None
    code: str | None = None
    bks: float | None = None
    bks_verified: float | None = None
    single_carer: bool = False
    planted: dict[str, Any] | None = None


def _generated(suite: str, name: str, **options: Any) -> InstanceSpec:
    return InstanceSpec(name=name, suite=suite, generator=options)


def _single(suite: str, name: str, **options: Any) -> InstanceSpec:
    return InstanceSpec(name=name, suite=suite, generator={**options, "double_share": 0.0},
                        single_carer=True)


def smoke() -> list[InstanceSpec]:
    """Two tiny provider days (one without double-handed care, one with)."""
    return [
        _single("smoke", "smoke-single", carers=3, clients=8, days=1, seed=1),
        _generated("smoke", "smoke-mixed", carers=4, clients=10, days=1, seed=2, double_share=0.3),
    ]


def standard() -> list[InstanceSpec]:
    """Provider days and weeks at 20, 40 and 120 carers; days without double-ups for peers."""
    specs = []
    for carers in (20, 40, 120):
        clients = 3 * carers
        specs += [
            _generated("standard", f"std-c{carers}-day", carers=carers, clients=clients, days=1,
                       seed=carers),
            _single("standard", f"std-c{carers}-day-single", carers=carers, clients=clients,
                    days=1, seed=carers),
            _generated("standard", f"std-c{carers}-week", carers=carers, clients=clients, days=7,
                       seed=carers),
        ]
    return specs


def scale() -> list[InstanceSpec]:
    """A whole district's day: 500 and 1,000 carers, calls sized to them; and an overloaded
    provider day (1,000 calls for 120 carers, about 70% coverable), where many visits stay
    out and the time limit was hardest to keep (session 12: 3 s ran 7 s)."""
    return [*(_generated("scale", f"scale-c{c}-day", carers=c, clients=3 * c, days=1, seed=c,
                         demand_ratio=0.6) for c in (500, 1000)),
            _generated("scale", "scale-c120-overloaded-day", carers=120, clients=1000, days=1,
                       seed=7, demand_ratio=0.6)]


def planted() -> list[InstanceSpec]:
    """Instances built around a hidden full-coverage rota: days at 20, 40, 120 carers, a week."""
    specs = [InstanceSpec(name=f"planted-c{c}-day", suite="planted",
                          planted={"carers": c, "days": 1, "seed": c}) for c in (20, 40, 120)]
    return [*specs, InstanceSpec(name="planted-c20-week", suite="planted",
                                 planted={"carers": 20, "days": 7, "seed": 20})]


def default_data(suite: str) -> Path:
    return SHARED / DATA_SETS[suite]


def hhcrsp(data: Path | None, codes: list[str] | None) -> list[InstanceSpec]:
    """Mankowska 2014 instances by their codes in `bks.csv` (all 70 when none are given)."""
    folder = data or default_data("hhcrsp")
    if not (folder / "bks.csv").exists():
        raise SuiteError(
            f"the HHCRSP set is not at {folder} (no bks.csv). Pass --data DIR pointing at the "
            f"set's folder; the set is published with {PUBLISHED_AT}")
    known = read_bks(folder / "bks.csv")
    wanted = codes or list(known)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise SuiteError(f"--instances: unknown code(s) {', '.join(unknown)}; bks.csv has "
                         f"{', '.join(list(known)[:3])} ... {list(known)[-1]}")
    specs = []
    for code in wanted:
        row = known[code]
        try:
            path = instance_path(folder, row.instance)
        except FileNotFoundError as exc:
            raise SuiteError(str(exc)) from exc
        specs.append(InstanceSpec(name=row.instance, suite="hhcrsp", hhcrsp=str(path), code=code,
                                  bks=row.bks, bks_verified=row.verified))
    return specs


def instances(suite: str, data: Path | None = None,
              names: list[str] | None = None) -> list[InstanceSpec]:
    """The suite's instances; `names` filters by name (or by code for hhcrsp)."""
    if suite == "hhcrsp":
        return hhcrsp(data, names)
    if suite not in SUITES:
        raise SuiteError(f"--suite: unknown suite {suite!r}; use one of {', '.join(SUITES)}")
    specs = {"smoke": smoke, "standard": standard, "scale": scale, "planted": planted}[suite]()
    if names:
        unknown = [n for n in names if n not in {s.name for s in specs}]
        if unknown:
            raise SuiteError(f"--instances: unknown instance(s) {', '.join(unknown)}; the suite has "
                             f"{', '.join(s.name for s in specs)}")
        specs = [s for s in specs if s.name in names]
    return specs


def build(spec: InstanceSpec, time_limit: float) -> tuple[Problem, HhcrspInstance | None]:
    """The problem of a spec (and the published instance it came from, for hhcrsp)."""
    if spec.hhcrsp is not None:
        from benchmarks.hhcrsp_convert import to_problem

        inst = read_instance(Path(spec.hhcrsp))
        return to_problem(inst, time_limit=time_limit), inst
    if spec.planted is not None:
        from benchmarks.planted import planted as plant

        problem = plant(**spec.planted)[0]
        return problem.model_copy(update={"id": spec.name, "time_limit_seconds": time_limit}), None
    from optimiser.generate import GeneratorOptions, generate

    problem = generate(GeneratorOptions(**spec.generator))
    if spec.single_carer:
        visits = [v.model_copy(update={"follows": None}) for v in problem.visits]
        problem = problem.model_copy(update={"visits": visits})
    return problem.model_copy(update={"id": spec.name, "time_limit_seconds": time_limit}), None
