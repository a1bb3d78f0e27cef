"""Realistic generated rota problems: a UK home-care provider around a town.

The shape follows what rota planners describe and the seed district shows:

- **Places.** Clients cluster in town localities (square cells about 1.6 km a
  side around Menston/Burley in Wharfedale, lat ~53.87); one rural locality
  is several times larger and holds few clients. Boundaries are GeoJSON
  polygons, so point-in-polygon locality lookup works on generated files.
- **Calls.** Four peaks: breakfast (preferred 07:30-09:00), lunch
  (12:00-13:15), tea (16:30-18:00) and bed (19:30-20:45). A client has 1-4
  calls a day, the same every day (care plans repeat). Windows are +/-30 min
  around the preferred start, +/-15 for time-critical medication (priority
  `critical`). Calls last 30, 45 or 60 min (15 only with `short_calls`).
- **Double-handed care.** A share of clients need two carers (usually with a
  hoist) on every call, so that about `double_share` of care hours are
  double-handed, counted in carer-minutes (`double_handed_share`). A few of
  them have one call split into a 0-0 synchronised pair needing different
  skills. Some lunchtime medication follows breakfast medication by 240-360 min.
- **Carers.** Drivers and walkers (walkers: `max_leg_minutes` 20-25, homes in
  town and only their home locality, since a walker cannot cover the rural
  area). Early (07:00-14:00), late (14:00-22:00), split (07:00-10:30 and
  16:30-22:00, two shifts) and long-day (07:00-22:00, break rule) patterns;
  over a horizon longer than a day every carer has two days off in each week,
  spread so each weekday loses the same number of carers.

**Demand.** `carers` and `clients` are fixed. By default each client has a care
package drawn like a district's: 1-4 calls a day, about 2.75 on average (1: 12%,
2: 28%, 3: 33%, 4: 27%; double-handed clients at least 2), most including
breakfast, so a provider day with 40 carers and 120 clients has about 330
visits. The load then follows the clients, not the carers: 3 clients per carer
is more than the carers can cover (70-78% of the care minutes on such a day,
by time limit), 2 per carer nearly all. On a one-day horizon every carer works (the problem
lists the day's carers); over longer horizons each has two days off a week.

With `demand_ratio` set, calls are sized to the carers instead: in each of the
four peak bands (07:00-10:30, 11:30-14:00, 16:00-18:30, 19:00-22:00) the care
carer-minutes (a double-handed minute counts twice) are about `demand_ratio` x
the carer minutes on shift in that band, a walker's minute counting 0.6 (a
walker reaches only nearby clients of one locality). Care can only happen at
call times, so measuring against the whole shift (idle mid-morning and mid-
afternoon included) would overload the peaks; over whole shifts the ratio comes
out about 0.7 x `demand_ratio` with 30% walkers. Calls are added to clients (1
each first, then up to 4) until that target is met, each into the peak with the
most room, so no peak is loaded much harder than the others. If even one call
per client exceeds the target (many clients, few carers) the demand is simply
higher and a warning is logged. This keeps a generated provider's load fixed
whatever its size, for tests and benchmarks.

**Coverability.** After drawing, each peak is checked per skill: where the
carers on shift holding a skill offer less time than the visits needing it
(with headroom), more carers on shift learn the skill; a visit with fewer than
`carers_required + 1` plausible carers (skills, gender, exclusions, localities,
shifts, walking reach) gets its rarest constraint relaxed. Instances are
therefore usually coverable at the default ratio, while the total load, not
skill gaps, decides how hard they are.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from optimiser.domain.documents import (
    BreakRule,
    Carer,
    Client,
    Follows,
    Horizon,
    Locality,
    Location,
    Problem,
    Shift,
    Visit,
)
from optimiser.travel import DEFAULT_CIRCUITY, DEFAULT_SPEED_KMH, EARTH_RADIUS_KM

log = logging.getLogger(__name__)

# Peaks: (name, band start, band end, preferred-start low, preferred-start high), minutes
# after midnight. The band is where the calls of a peak happen (window +/-30 and
# duration included); it is what carer availability is measured against.
PEAKS: tuple[tuple[str, int, int, int, int], ...] = (
    ("breakfast", 7 * 60, 10 * 60 + 30, 7 * 60 + 30, 9 * 60),
    ("lunch", 11 * 60 + 30, 14 * 60, 12 * 60, 13 * 60 + 15),
    ("tea", 16 * 60, 18 * 60 + 30, 16 * 60 + 30, 18 * 60),
    ("bed", 19 * 60, 22 * 60, 19 * 60 + 30, 20 * 60 + 45),
)
PEAK_NAMES: tuple[str, ...] = tuple(p[0] for p in PEAKS)
DAY_END = 22 * 60

# Shift patterns: name -> list of (start, end) minutes in the day.
PATTERNS: dict[str, tuple[tuple[int, int], ...]] = {
    "early": ((7 * 60, 14 * 60),),
    "late": ((14 * 60, 22 * 60),),
    "split": ((7 * 60, 10 * 60 + 30), (16 * 60 + 30, 22 * 60)),
    "long_day": ((7 * 60, 22 * 60),),
}
PATTERN_MIX: tuple[tuple[str, float], ...] = (
    ("early", 0.35), ("late", 0.25), ("split", 0.2), ("long_day", 0.2),
)
# Duration weights per peak (30, 45, 60 min); with short_calls 15 joins at lunch and tea.
DURATIONS: dict[str, tuple[float, float, float]] = {
    "breakfast": (0.3, 0.45, 0.25),
    "lunch": (0.6, 0.3, 0.1),
    "tea": (0.55, 0.3, 0.15),
    "bed": (0.5, 0.35, 0.15),
}
# Share of carers holding each skill before the coverage repair (rare skills are rare).
CARER_SKILLS: tuple[tuple[str, float], ...] = (
    ("medication", 0.85), ("hoist", 0.7), ("dementia", 0.5), ("end_of_life", 0.2),
    ("peg_feed", 0.12),
)
TOWN_NAMES: tuple[str, ...] = (
    "Menston", "Burley", "Guiseley", "Otley", "Baildon", "Shipley", "Bingley", "Keighley",
    "Ilkley", "Addingham", "Yeadon", "Rawdon",
)
RURAL_NAME = "Wharfedale Rural"
TOWN_CENTRE = (53.87, -1.77)
CELL_LAT, CELL_LON = 0.015, 0.025  # ~1.67 km x 1.64 km at this latitude
RURAL_SHARE = 0.08  # of clients, in an area ~6 town cells wide
# Care packages (demand_ratio None): calls a day 1-4, mean 2.75 (about 115 minutes of
# calls a person a day, as in the brief's district: 33,000 hours a week for 2,464 people),
# then which peaks, by call count.
PACKAGE_CALLS: tuple[float, ...] = (0.12, 0.28, 0.33, 0.27)
PACKAGE_PEAKS: dict[int, tuple[tuple[tuple[str, ...], float], ...]] = {
    1: ((("breakfast",), 0.7), (("lunch",), 0.15), (("tea",), 0.15)),
    2: ((("breakfast", "bed"), 0.6), (("breakfast", "tea"), 0.25), (("breakfast", "lunch"), 0.15)),
    3: ((("breakfast", "lunch", "bed"), 0.5), (("breakfast", "tea", "bed"), 0.3),
        (("breakfast", "lunch", "tea"), 0.2)),
    4: ((("breakfast", "lunch", "tea", "bed"), 1.0),),
}
UTILISATION_HEADROOM = 0.8
# A walker serves only the clients of one town locality within a short walk, so an hour of
# a walker's time covers less demand than an hour of a driver's (demand is set from this).
WALKER_REACH = 0.6  # skill repair: needed minutes <= 0.8 x skilled minutes on shift


@dataclass(frozen=True)
class GeneratorOptions:
    """What to generate. Same options (seed included), same problem.

    carers, clients: counts. days: horizon length from `start` (a Monday by default).
    double_share: share of care carer-minutes on double-handed visits.
    walker_share: share of carers who walk. localities: areas, one of them rural
    (when there are at least two). demand_ratio: care carer-minutes over carer
    minutes on shift, per call peak (see the module docstring); None (the default)
    gives each client a district-like care package instead. short_calls:
    allow 15-minute calls.
    """

    carers: int = 20
    clients: int = 60
    days: int = 1
    seed: int = 0
    double_share: float = 0.45
    walker_share: float = 0.3
    localities: int = 4
    demand_ratio: float | None = None
    short_calls: bool = False
    start: date = date(2026, 11, 30)

    def __post_init__(self) -> None:
        if self.carers < 1 or self.clients < 1 or self.days < 1 or self.localities < 1:
            raise ValueError("carers, clients, days and localities must be at least 1")
        for name in ("double_share", "walker_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.demand_ratio is not None and self.demand_ratio <= 0:
            raise ValueError("demand_ratio must be positive")


@dataclass(frozen=True)
class _Area:
    id: str
    name: str
    lat0: float
    lon0: float
    lat1: float
    lon1: float
    rural: bool

    @property
    def centre(self) -> tuple[float, float]:
        return (self.lat0 + self.lat1) / 2, (self.lon0 + self.lon1) / 2

    def boundary(self) -> dict:
        ring = [[self.lon0, self.lat0], [self.lon1, self.lat0], [self.lon1, self.lat1],
                [self.lon0, self.lat1], [self.lon0, self.lat0]]
        return {"type": "Polygon", "coordinates": [[[round(x, 5), round(y, 5)] for x, y in ring]]}

    def clip(self, lat: float, lon: float, margin: float = 0.1) -> tuple[float, float]:
        dl, dn = (self.lat1 - self.lat0) * margin, (self.lon1 - self.lon0) * margin
        return (min(max(lat, self.lat0 + dl), self.lat1 - dl),
                min(max(lon, self.lon0 + dn), self.lon1 - dn))


@dataclass
class _Call:
    peak: str
    preferred: int  # minutes after midnight
    duration: int
    skills: set[str]
    critical: bool = False
    follows_breakfast: bool = False
    sync_skills: tuple[str, str] | None = None  # a 0-0 pair: skills of the two halves


@dataclass
class _ClientPlan:
    id: str
    area: _Area
    lat: float
    lon: float
    double: bool
    needs: set[str]  # client-level skills: medication, dementia, peg_feed, end_of_life, hoist
    time_critical: bool
    calls: dict[str, _Call] = field(default_factory=dict)
    required_gender: str | None = None
    preferred_gender: str | None = None
    excluded: list[str] = field(default_factory=list)
    preferred: list[str] = field(default_factory=list)
    max_distinct: int | None = None

    @property
    def load(self) -> int:
        """Care carer-minutes per day."""
        return sum(c.duration for c in self.calls.values()) * (2 if self.double else 1)


@dataclass
class _CarerPlan:
    id: str
    female: bool
    walker: bool
    area: _Area
    lat: float
    lon: float
    pattern: str
    days_off: frozenset[int]  # weekday offsets 0..6 from the horizon start
    skills: set[str]
    max_leg: int | None
    cost_per_hour: float


def generate(opts: GeneratorOptions) -> Problem:
    """A realistic carerota/1 problem for one provider (pure: depends only on `opts`)."""
    rng = random.Random(opts.seed)
    areas = _areas(opts.localities)
    carers = _carers(rng, opts, areas)
    if opts.days == 1:  # a day's problem lists the carers working that day
        carers = [replace(k, days_off=frozenset()) for k in carers]
    clients = _clients(rng, opts, areas)
    if opts.demand_ratio is None:
        _add_packages(rng, opts, clients)
    else:
        _add_calls(rng, opts.demand_ratio, opts, clients, carers)
    _link_medication(rng, clients)
    _synchronised_pairs(rng, opts, clients)
    _client_preferences(rng, opts, clients, carers)
    _repair_skills(rng, opts, clients, carers)
    _repair_candidates(rng, opts, clients, carers)
    return _problem(opts, areas, carers, clients)


def double_handed_share(problem: Problem) -> float:
    """Share of care carer-minutes on double-handed visits (0-0 synchronised pairs count)."""
    synced = {v.id for v in problem.visits if v.follows and v.follows.max_gap_minutes == 0
              and v.follows.min_gap_minutes == 0}
    synced |= {v.follows.visit_id for v in problem.visits if v.id in synced and v.follows}
    total = double = 0
    for v in problem.visits:
        minutes = v.duration_minutes * v.carers_required
        total += minutes
        if v.carers_required == 2 or v.id in synced:
            double += minutes
    return double / total if total else 0.0


# --- places -------------------------------------------------------------------


def _areas(count: int) -> list[_Area]:
    towns = count - 1 if count >= 2 else 1
    cols = math.ceil(math.sqrt(towns))
    rows = math.ceil(towns / cols)
    top = TOWN_CENTRE[0] + rows * CELL_LAT / 2
    left = TOWN_CENTRE[1] - cols * CELL_LON / 2
    areas = []
    for k in range(towns):
        r, c = divmod(k, cols)
        name = TOWN_NAMES[k] if k < len(TOWN_NAMES) else f"Town {k + 1}"
        lat1 = top - r * CELL_LAT
        lon0 = left + c * CELL_LON
        areas.append(_Area(_slug(name), name, lat1 - CELL_LAT, lon0, lat1, lon0 + CELL_LON, False))
    if count >= 2:
        # North of the town, ~6 cells wide and ~4 deep: far more land, few clients.
        width = max(cols, 6) * CELL_LON
        mid = TOWN_CENTRE[1]
        areas.append(_Area(_slug(RURAL_NAME), RURAL_NAME, top, mid - width / 2, top + 4 * CELL_LAT,
                           mid + width / 2, True))
    return areas


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _point_in(rng: random.Random, area: _Area, spread: float) -> tuple[float, float]:
    """A point clustered around the area's centre (spread: sigma as a share of its size)."""
    if area.rural:
        lat = rng.uniform(area.lat0, area.lat1)
        lon = rng.uniform(area.lon0, area.lon1)
    else:
        c_lat, c_lon = area.centre
        lat = rng.gauss(c_lat, spread * (area.lat1 - area.lat0))
        lon = rng.gauss(c_lon, spread * (area.lon1 - area.lon0))
    lat, lon = area.clip(lat, lon)
    return round(lat, 5), round(lon, 5)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = (math.sin((la2 - la1) / 2) ** 2
         + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def _minutes(mode: str, a: tuple[float, float], b: tuple[float, float]) -> int:
    km = _km(a, b)
    return math.ceil(round(km * DEFAULT_CIRCUITY[mode] / DEFAULT_SPEED_KMH[mode] * 60, 9))


# --- carers -----------------------------------------------------------------


def _carers(rng: random.Random, opts: GeneratorOptions, areas: list[_Area]) -> list[_CarerPlan]:
    n = opts.carers
    towns = [a for a in areas if not a.rural]
    rural = [a for a in areas if a.rural]
    walkers = set(rng.sample(range(n), round(n * opts.walker_share)))
    patterns = _spread([name for name, _ in PATTERN_MIX], [w for _, w in PATTERN_MIX], n, rng)
    # Seven off-pairs (d, d+1): in every seven carers each weekday is off twice.
    off_order = list(range(7))
    rng.shuffle(off_order)
    width = len(str(n))
    out = []
    for i in range(n):
        walker = i in walkers
        if walker or not rural or rng.random() > 0.15:
            area = towns[rng.randrange(len(towns))]
            lat, lon = _point_in(rng, area, 0.18 if walker else 0.3)
        else:
            area = rural[0]
            lat, lon = _point_in(rng, area, 0.3)
        d = off_order[i % 7]
        skills = {s for s, share in CARER_SKILLS if rng.random() < share}
        out.append(_CarerPlan(
            id=f"carer-{i + 1:0{width}d}", female=rng.random() < 0.8, walker=walker, area=area,
            lat=lat, lon=lon, pattern=patterns[i], days_off=frozenset({d, (d + 1) % 7}),
            skills=skills, max_leg=rng.choice((20, 25)) if walker else None,
            cost_per_hour=round(rng.uniform(12.6, 14.2), 2),
        ))
    return out


def _spread(names: list[str], weights: list[float], n: int, rng: random.Random) -> list[str]:
    """n labels in proportion to weights (largest remainders), shuffled."""
    raw = [w * n for w in weights]
    counts = [int(x) for x in raw]
    for k in sorted(range(len(raw)), key=lambda k: counts[k] - raw[k])[: n - sum(counts)]:
        counts[k] += 1
    labels = [name for name, c in zip(names, counts, strict=True) for _ in range(c)]
    rng.shuffle(labels)
    return labels


def _works(carer: _CarerPlan, day: int) -> bool:
    return day % 7 not in carer.days_off


def _shifts(carer: _CarerPlan, day: int) -> tuple[tuple[int, int], ...]:
    return PATTERNS[carer.pattern] if _works(carer, day) else ()


def _overlap(spans: Iterable[tuple[int, int]], lo: int, hi: int) -> int:
    return sum(max(0, min(e, hi) - max(s, lo)) for s, e in spans)


# --- clients and calls ----------------------------------------------------------


def _clients(rng: random.Random, opts: GeneratorOptions, areas: list[_Area]) -> list[_ClientPlan]:
    towns = [a for a in areas if not a.rural]
    rural = [a for a in areas if a.rural]
    weights = [rng.uniform(0.7, 1.3) for _ in towns]
    n = opts.clients
    n_rural = max(1, round(n * RURAL_SHARE)) if rural and n >= 5 else 0
    # Share of clients who are double-handed for a carer-minute share s: 2f / (1 + f) = s.
    s = opts.double_share
    f = s / (2 - s) if s < 1 else 1.0
    doubles = set(rng.sample(range(n), round(n * f)))
    width = len(str(n))
    out = []
    for i in range(n):
        area = rural[0] if i < n_rural else rng.choices(towns, weights)[0]
        lat, lon = _point_in(rng, area, 0.2)
        double = i in doubles
        needs: set[str] = set()
        if rng.random() < 0.65:
            needs.add("medication")
        if double and rng.random() < 0.85:
            needs.add("hoist")
        if rng.random() < 0.2:
            needs.add("dementia")
        if rng.random() < 0.03:
            needs.add("peg_feed")
        if rng.random() < (0.08 if double else 0.02):
            needs.add("end_of_life")
        out.append(_ClientPlan(
            id=f"client-{i + 1:0{width}d}", area=area, lat=lat, lon=lon, double=double,
            needs=needs, time_critical="medication" in needs and rng.random() < 0.15,
        ))
    return out


def _band_capacity(
    opts: GeneratorOptions, carers: list[_CarerPlan]
) -> tuple[dict[str, float], float]:
    """Average carer minutes on shift per peak band (walkers discounted) and per day."""
    per_peak = dict.fromkeys(PEAK_NAMES, 0.0)
    total = 0.0
    for day in range(opts.days):
        for carer in carers:
            spans = _shifts(carer, day)
            total += sum(e - s for s, e in spans)
            reach = WALKER_REACH if carer.walker else 1.0
            for name, lo, hi, _, _ in PEAKS:
                per_peak[name] += reach * _overlap(spans, lo, hi)
    return {k: v / opts.days for k, v in per_peak.items()}, total / opts.days


def _add_packages(rng: random.Random, opts: GeneratorOptions, clients: list[_ClientPlan]) -> None:
    """Each client's own care package: a number of calls, then which peaks they fall in."""
    for client in clients:
        n = rng.choices(range(1, 5), PACKAGE_CALLS)[0]
        if client.double:  # hoist transfers: at least getting up and going to bed
            n = max(n, 2)
        peak_sets, weights = zip(*PACKAGE_PEAKS[n], strict=True)
        for peak in rng.choices(peak_sets, weights)[0]:
            client.calls[peak] = _draw_call(rng, opts, client, peak)


def _add_calls(rng: random.Random, ratio: float, opts: GeneratorOptions,
               clients: list[_ClientPlan], carers: list[_CarerPlan]) -> None:
    """Give clients calls until each peak's care minutes reach ratio x its carer time."""
    capacity, _ = _band_capacity(opts, carers)
    peak_target = {k: max(ratio * v, 1.0) for k, v in capacity.items()}
    target = sum(peak_target.values())
    load = dict.fromkeys(PEAK_NAMES, 0.0)
    total = 0.0
    double_load = 0.0

    def room(peak: str) -> float:
        return (peak_target[peak] - load[peak]) / peak_target[peak]

    def add(client: _ClientPlan) -> None:
        nonlocal total, double_load
        free = [p for p in PEAK_NAMES if p not in client.calls]
        best = max(free, key=lambda p: room(p) + rng.uniform(0, 0.1))
        # Most people's first (or only) call is getting up, if the morning has room.
        morning = not client.calls and room("breakfast") > room(best) - 0.15
        peak = "breakfast" if morning else best
        call = _draw_call(rng, opts, client, peak)
        client.calls[peak] = call
        minutes = call.duration * (2 if client.double else 1)
        load[peak] += minutes
        total += minutes
        double_load += minutes if client.double else 0

    order = list(clients)
    rng.shuffle(order)
    for client in order:
        add(client)
    if total > target:
        log.warning("one call per client already needs %.0f care minutes a day, over the "
                    "%.0f the demand ratio asks for: demand will be higher", total, target)
    while total < target:
        open_ = [c for c in clients if len(c.calls) < len(PEAKS)]
        if not open_:
            log.warning("clients are at four calls a day and demand is still below the target")
            break
        want_double = total == 0 or double_load / total < opts.double_share
        pool = [c for c in open_ if c.double == want_double] or open_
        add(pool[rng.randrange(len(pool))])


def _draw_call(rng: random.Random, opts: GeneratorOptions, client: _ClientPlan, peak: str) -> _Call:
    _, _, _, lo, hi = next(p for p in PEAKS if p[0] == peak)
    w30, w45, w60 = DURATIONS[peak]
    choices, weights = [30, 45, 60], [w30, w45, w60]
    if opts.short_calls and peak in ("lunch", "tea") and not client.double:
        choices, weights = [15, *choices], [0.25, *weights]
    duration = rng.choices(choices, weights)[0]
    if peak == "bed":  # leave room to finish and get home by the end of the late shift
        hi = min(hi, DAY_END - 30 - duration - 15)
    preferred = lo + 5 * rng.randrange((hi - lo) // 5 + 1)
    skills = set(client.needs)
    if "medication" in skills and peak != "breakfast" and rng.random() < 0.3:
        skills.discard("medication")  # not every call gives medication
    critical = client.time_critical and "medication" in skills
    return _Call(peak, preferred, duration, skills, critical)


def _link_medication(rng: random.Random, clients: list[_ClientPlan]) -> None:
    """Lunchtime medication 240-360 min after breakfast medication, for some clients."""
    for client in clients:
        b, lunch = client.calls.get("breakfast"), client.calls.get("lunch")
        if b is None or lunch is None or "medication" not in b.skills or rng.random() > 0.5:
            continue
        lunch.skills.add("medication")
        lunch.critical = client.time_critical
        gap = 255 + 5 * rng.randrange(10)
        lunch.preferred = min(max(b.preferred + gap, 12 * 60), 13 * 60 + 15)
        lunch.follows_breakfast = True


def _synchronised_pairs(
    rng: random.Random, opts: GeneratorOptions, clients: list[_ClientPlan]
) -> None:
    """A few double-ups become two visits starting together with different skills."""
    wanted = round(opts.clients / 40)
    pool = [c for c in clients if c.double and len(c.calls) >= 2]
    for client in rng.sample(pool, min(wanted, len(pool))):
        call = client.calls[sorted(client.calls, key=PEAK_NAMES.index)[-1]]
        # e.g. a nurse-trained carer for the PEG feed while a second carer works the hoist
        pair = ("peg_feed", "hoist") if "peg_feed" in client.needs else ("end_of_life", "dementia")
        call.sync_skills = pair
        call.skills -= set(pair)


def _client_preferences(rng: random.Random, opts: GeneratorOptions, clients: list[_ClientPlan],
                        carers: list[_CarerPlan]) -> None:
    for client in clients:
        r = rng.random()
        if not client.double and r < 0.08:
            client.required_gender = "female"
        elif not client.double and r < 0.1:
            client.required_gender = "male"
        elif rng.random() < 0.15:
            client.preferred_gender = "female"
        if carers and rng.random() < 0.05:
            client.excluded = [carers[rng.randrange(len(carers))].id]
        if rng.random() < 0.4:
            near = sorted(carers, key=lambda k: _km((k.lat, k.lon), (client.lat, client.lon)))[:6]
            near = [k for k in near if k.id not in client.excluded]
            picked = rng.sample(near, min(len(near), rng.randint(1, 2)))
            client.preferred = sorted(k.id for k in picked)
        if not client.double and len(client.calls) <= 2 and rng.random() < 0.3:
            client.max_distinct = 4 if opts.days <= 3 else 6


# --- coverability ---------------------------------------------------------------


def _visit_skills(call: _Call) -> list[set[str]]:
    """Skill sets of the carer-slots of a call (two for a double-up)."""
    if call.sync_skills:
        return [call.skills | {call.sync_skills[0]}, call.skills | {call.sync_skills[1]}]
    return [call.skills]


def _window(call: _Call) -> tuple[int, int]:
    half = 15 if call.critical else 30
    return call.preferred - half, call.preferred + half


def _can_reach(carer: _CarerPlan, client: _ClientPlan) -> bool:
    if carer.walker:
        if client.area.id != carer.area.id:
            return False
        assert carer.max_leg is not None
        return _minutes("walk", (carer.lat, carer.lon), (client.lat, client.lon)) <= carer.max_leg
    return True


def _on_shift(carer: _CarerPlan, day: int, call: _Call) -> bool:
    lo, hi = _window(call)
    return any(s <= hi and lo + call.duration <= e for s, e in _shifts(carer, day))


def _fits_person(carer: _CarerPlan, client: _ClientPlan) -> bool:
    if carer.id in client.excluded:
        return False
    if client.required_gender is not None:
        return (client.required_gender == "female") == carer.female
    return True


def _repair_skills(rng: random.Random, opts: GeneratorOptions, clients: list[_ClientPlan],
                   carers: list[_CarerPlan]) -> None:
    """Per day, peak and skill: carers on shift with the skill offer enough time."""
    skills = sorted({s for c in clients for call in c.calls.values() for ss in _visit_skills(call)
                     for s in ss})
    for day in range(min(opts.days, 7)):
        for name, lo, hi, _, _ in PEAKS:
            calls = [(c, call) for c in clients for call in c.calls.values() if call.peak == name]
            for skill in skills:
                need = sum(call.duration for c, call in calls for ss in _visit_skills(call)
                           for _ in range(2 if c.double and not call.sync_skills else 1)
                           if skill in ss)
                if not need:
                    continue
                on = [k for k in carers if _overlap(_shifts(k, day), lo, hi) > 0]
                have = sum(_overlap(_shifts(k, day), lo, hi) for k in on if skill in k.skills)
                spare = [k for k in on if skill not in k.skills]
                rng.shuffle(spare)
                # Prefer drivers: they can reach every client needing the skill.
                spare.sort(key=lambda k: k.walker)
                while have * UTILISATION_HEADROOM < need and spare:
                    k = spare.pop(0)
                    k.skills.add(skill)
                    have += _overlap(_shifts(k, day), lo, hi)


def _repair_candidates(rng: random.Random, opts: GeneratorOptions, clients: list[_ClientPlan],
                       carers: list[_CarerPlan]) -> None:
    """Every call has at least carers_required + 1 plausible carers on every day."""
    for client in clients:
        for call in client.calls.values():
            slots = _visit_skills(call)
            need = 2 if (client.double or call.sync_skills) else 1
            for day in range(min(opts.days, 7)):
                timely = [k for k in carers if _on_shift(k, day, call) and _can_reach(k, client)]
                for attempt in range(3):
                    fits = [k for k in timely if _fits_person(k, client)]
                    ok = [k for k in fits if any(ss <= k.skills for ss in slots)]
                    if len(ok) >= need + 1:
                        break
                    if attempt == 0:  # teach the call's skills to carers who fit otherwise
                        learners = [k for k in fits if k not in ok]
                        rng.shuffle(learners)
                        for k in learners[: need + 1 - len(ok)]:
                            k.skills |= slots[rng.randrange(len(slots))]
                            if call.sync_skills:
                                k.skills |= slots[0] | slots[1]
                    else:  # relax the client's own constraints
                        client.required_gender = None
                        client.excluded = []


# --- the document ---------------------------------------------------------------


def _problem(opts: GeneratorOptions, areas: list[_Area], carers: list[_CarerPlan],
             clients: list[_ClientPlan]) -> Problem:
    origin = datetime.combine(opts.start, datetime.min.time())

    def at(day: int, minute: int) -> datetime:
        return origin + timedelta(days=day, minutes=minute)

    doc_carers = []
    for k in carers:
        shifts = [Shift(start=at(d, s), end=at(d, e)) for d in range(opts.days)
                  for s, e in _shifts(k, d)]
        long_day = k.pattern == "long_day"
        doc_carers.append(Carer(
            id=k.id, provider_id="wharfe-care", home=Location(lat=k.lat, lon=k.lon),
            travel_mode="walk" if k.walker else "drive", skills=sorted(k.skills),
            gender="female" if k.female else "male", shifts=shifts,
            max_work_minutes_per_day=600 if long_day else 480, max_leg_minutes=k.max_leg,
            localities=[k.area.id] if k.walker else [],
            break_rule=BreakRule(after_work_minutes=360, break_minutes=30 if long_day else 20),
            cost_per_hour=k.cost_per_hour,
        ))
    doc_clients = [
        Client(
            id=c.id, location=Location(lat=c.lat, lon=c.lon), locality=c.area.id,
            required_carer_gender=c.required_gender, preferred_carer_gender=c.preferred_gender,
            preferred_carers=c.preferred, excluded_carers=c.excluded,
            max_distinct_carers=c.max_distinct,
        )
        for c in clients
    ]
    visits = []
    for day in range(opts.days):
        for c in clients:
            for name in PEAK_NAMES:
                call = c.calls.get(name)
                if call is not None:
                    visits.extend(_visits(c, call, day, at))
    visits.sort(key=lambda v: (v.earliest_start, v.id))
    return Problem(
        id=f"generated-{opts.carers}c-{opts.clients}k-{opts.days}d-s{opts.seed}",
        horizon=Horizon(start=origin, end=at(opts.days, 0)),
        localities=[Locality(id=a.id, name=a.name, boundary=a.boundary()) for a in areas],
        carers=doc_carers, clients=doc_clients, visits=visits, seed=opts.seed,
    )


def _visits(c: _ClientPlan, call: _Call, day: int, at) -> list[Visit]:
    lo, hi = _window(call)
    vid = f"{c.id}-d{day + 1}-{call.peak}"
    common = {
        "client_id": c.id, "earliest_start": at(day, lo), "latest_start": at(day, hi),
        "preferred_start": at(day, call.preferred), "duration_minutes": call.duration,
        "priority": "critical" if call.critical else ("high" if "end_of_life" in c.needs
                                                      else "normal"),
    }
    follows = None
    if call.follows_breakfast:
        follows = Follows(visit_id=f"{c.id}-d{day + 1}-breakfast", min_gap_minutes=240,
                          max_gap_minutes=360)
    if call.sync_skills:
        first, second = call.sync_skills
        return [
            Visit(id=vid, carers_required=1, skills=sorted(call.skills | {first}), follows=follows,
                  **common),
            Visit(id=f"{vid}-2", carers_required=1, skills=sorted(call.skills | {second}),
                  follows=Follows(visit_id=vid, min_gap_minutes=0, max_gap_minutes=0), **common),
        ]
    return [Visit(id=vid, carers_required=2 if c.double else 1, skills=sorted(call.skills),
                  follows=follows, **common)]
