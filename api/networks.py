"""Which road-network files a posted problem may name: only those in the operator's folder.

`travel.path` with `travel.source: "osm"` makes the server open a file. Through
the API that file must lie inside `Settings.networks_dir`
(`CAREROTA_NETWORKS_DIR`) after resolving symlinks and `..`, so a caller cannot
make the server read (or cache, or report on) any other file. A relative path is
taken relative to that folder; unset, OSM travel is refused with how to enable it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from geodata.prepare import prepare
from optimiser.domain.documents import Problem
from optimiser.domain.errors import DocumentError, FieldError
from optimiser.travel import TravelMatrices

NOT_ENABLED = ("OSM travel is not enabled on this server: the operator sets CAREROTA_NETWORKS_DIR "
               "to the folder of network files a problem may name")
OUTSIDE = ("must name a network file inside the server's networks folder (CAREROTA_NETWORKS_DIR), "
           "e.g. 'west-yorkshire.osm.pbf'")


class NetworkPath:
    """A caller's `travel.path` checked against the networks folder.

    `problem` carries the resolved absolute path (what geodata opens); `errors`
    holds the refusal at `travel.path`, if any. `public` turns a geodata message
    that quotes the resolved path back into the caller's own words, so the server's
    folder layout is not revealed.
    """

    def __init__(self, problem: Problem, networks_dir: Path | None) -> None:
        self.problem = problem
        self.errors: list[FieldError] = []
        self.given: str | None = None
        self.resolved: str | None = None
        travel = problem.travel
        if travel.source != "osm" or not travel.path:
            return  # no file is opened; a missing osm path is geodata's field error
        self.given = travel.path
        if networks_dir is None:
            self.errors.append(FieldError("travel.path", NOT_ENABLED))
            return
        root = networks_dir.expanduser().resolve()
        try:
            target = (root / travel.path).resolve()  # an absolute path replaces root
        except (OSError, RuntimeError, ValueError):  # symlink loop, NUL byte
            target = None
        if target is None or target == root or not target.is_relative_to(root):
            self.errors.append(FieldError("travel.path", OUTSIDE))
            return
        self.resolved = str(target)
        self.problem = problem.model_copy(
            update={"travel": travel.model_copy(update={"path": self.resolved})})

    def public(self, errors: list[FieldError]) -> list[FieldError]:
        """Errors with the resolved path written as the caller gave it."""
        if self.resolved is None or self.given is None:
            return errors
        return [FieldError(e.path, e.message.replace(self.resolved, repr(self.given)))
                if self.resolved in e.message else e for e in errors]


def guarded_prepare(networks_dir: Path | None) -> Callable[[Problem], tuple[Problem, TravelMatrices | None]]:
    """`geodata.prepare.prepare` that opens a network file only inside `networks_dir`.

    For routes that hand `prepare` to other code (matching builds its problems from
    stored documents, whose travel is haversine today; this keeps it so).
    """

    def checked(problem: Problem) -> tuple[Problem, TravelMatrices | None]:
        network = NetworkPath(problem, networks_dir)
        if network.errors:
            raise DocumentError(network.errors, "problem")
        try:
            return prepare(network.problem)
        except DocumentError as exc:
            raise DocumentError(network.public(exc.errors), exc.kind) from exc

    return checked
