"""A demo district for first-time users: a few providers, each with a rota that covers
all its committed visits, stored in the database so every endpoint has data to show.

The spec's own example provider is always there; generated providers are added
when the generator and solver are installed. A generated provider's rota is
solved briefly and visits it could not cover are left out (a provider's visits
are, by definition, the ones it delivers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from api import examples
from api.auth import create_key
from api.db import ProviderRecord, utcnow
from api.providers import provider_errors, stored_document
from optimiser.domain.compiled import compile_problem
from optimiser.domain.documents import Problem, Provider, Solution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoProvider:
    id: str
    name: str
    cqc_rating: str
    contract: str
    hourly_rate: float
    carers: int
    clients: int
    seed: int


GENERATED = (
    DemoProvider("aire-valley-care", "Aire Valley Care", "outstanding", "step", 23.0, 6, 14, 1),
    DemoProvider("moorside-homecare", "Moorside Homecare", "requires_improvement", "spot",
                 21.5, 6, 10, 2),
)


@dataclass(frozen=True)
class DemoKeys:
    """The keys a demo user needs: a broker's and one provider's."""

    broker: str
    provider: str
    provider_id: str
    providers: list[str]


def committed(problem: Problem, solution: Solution) -> tuple[list[dict[str, Any]], list[Any]]:
    """The visits the rota covers (follows links to dropped visits removed) and its routes."""
    covered = {s.visit_id for r in solution.routes for s in r.stops}
    visits = []
    for visit in problem.visits:
        if visit.id not in covered:
            continue
        doc = visit.model_dump(mode="json", exclude_unset=True)
        if visit.follows is not None and visit.follows.visit_id not in covered:
            doc.pop("follows")
        visits.append(doc)
    return visits, [r.model_dump(mode="json", exclude_none=True) for r in solution.routes]


def generated_provider(spec: DemoProvider, seconds: float) -> dict[str, Any]:
    """A generated provider day with a solved rota over the visits it covers."""
    from optimiser.generate import GeneratorOptions, generate
    from optimiser.solve import SolveOptions, solve

    problem = generate(GeneratorOptions(carers=spec.carers, clients=spec.clients, days=1,
                                        seed=spec.seed))
    solution = solve(compile_problem(problem), SolveOptions(time_limit=seconds, workers=1,
                                                            seed=spec.seed))
    visits, routes = committed(problem, solution)
    dump = problem.model_dump(mode="json", exclude_unset=True)
    return {
        "id": spec.id, "name": spec.name, "cqc_rating": spec.cqc_rating,
        "contract": spec.contract, "hourly_rate": spec.hourly_rate,
        "localities": [loc.id for loc in problem.localities],
        "carers": [{**c, "provider_id": spec.id} for c in dump.get("carers", [])],
        "clients": dump.get("clients", []), "visits": visits, "rota": {"routes": routes},
    }


def demo_documents(seconds: float = 3.0,
                   progress: Callable[[str], None] = log.info) -> list[dict[str, Any]]:
    """The demo providers' documents; generated ones only when generator and solver exist."""
    documents = [examples.provider()]
    for spec in GENERATED:
        progress(f"building demo provider {spec.id} ({spec.carers} carers, "
                 f"{spec.clients} clients, rota solved in {seconds:.0f} s)")
        try:
            documents.append(generated_provider(spec, seconds))
        except ImportError as exc:
            log.warning("demo: generated providers skipped (%s)", exc)
            break
    return documents


def load_demo(sessions: sessionmaker[Session], seconds: float = 3.0,
              progress: Callable[[str], None] = log.info) -> DemoKeys:
    """Store the demo district (replacing earlier demo providers) and mint two keys."""
    documents = demo_documents(seconds, progress)
    with sessions() as session:
        for document in documents:
            provider = Provider.model_validate(document)
            errors = provider_errors(provider)
            if errors:  # the demo must be a showcase of valid data
                raise RuntimeError(f"demo provider {provider.id} is invalid: {errors[:3]}")
            record = session.get(ProviderRecord, provider.id)
            if record is None:
                session.add(ProviderRecord(id=provider.id, document=stored_document(provider),
                                           updated_at=utcnow()))
            else:
                record.document = stored_document(provider)
                record.updated_at = utcnow()
        session.commit()
        first = documents[0]["id"]
        return DemoKeys(broker=create_key(session, "broker"),
                        provider=create_key(session, "provider", first), provider_id=first,
                        providers=[d["id"] for d in documents])
