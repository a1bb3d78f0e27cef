"""`solve(problem, options) -> Solution`: the rota engine's one public entry point.

Steps, each its own function: prune (who may do what), construct (a complete
valid rota), improve (local search with restarts, then large neighbourhood search;
on a small problem exact CP-SAT on the whole model, first briefly and again at the end),
extract (the spec's solution document).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace

from optimiser.construct import construct, without_half_pairs
from optimiser.domain.compiled import CompiledProblem
from optimiser.domain.documents import Problem, Solution
from optimiser.local import (
    MOVE_COST,
    STEP_COST,
    crossover,
    polished,
    relocate,
    ruin_recreate,
    steps_per_second,
)
from optimiser.plan import Plan, score, to_solution
from optimiser.prune import Eligibility, build_eligibility, reserved
from optimiser.repair import cover_more, has_uncovered, uncovered
from optimiser.search import improve, small, whole_model

log = logging.getLogger(__name__)

#: Share of the limit the ejection-pool repair may use (it stops once every visit is in).
#: 0.15, not 0.3: on the planted week at 60 s (all cores) the repair used its whole share
#: for its last few visits (780 -> 824-827 covered in 18 s), and the later phases, cover
#: neighbourhoods among them, do better with that time. Eight runs each (seeds 0, 2, 3, 5,
#: 6, 8, 10, 12): 828-830 covered, four full covers, against 825-829 and none; planted c120
#: and c40 (one run each) covered in full both ways, travel 2% and 4% lower.
REPAIR_SHARE = 0.15
#: At most this share of the limit for relocation passes before the CP-SAT search (they
#: usually reach a local optimum first: 6 s on a 260-visit HHCRSP day).
LOCAL_SHARE = 0.2
#: Share of the limit for ruin and recreate after relocation, before CP-SAT neighbourhoods,
#: visits out or not: it covers too since session 4 (planted suite at 30 s, two seeds: 3,715
#: visits covered against 3,710 with a fifth while visits were out, and less travel).
RUIN_SHARE = 0.5
#: Its share when every visit a carer could take is in: the neighbourhoods then only polish
#: travel and lateness, and found little there (HHCRSP F1/G1 at 60 s: 28-44 neighbourhoods,
#: 0-3 improvements), while ruin and recreate on G1 still gained when its share ran out.
#: All cores, 30 s, seeds 0, 2, 4 summed, against 0.5: F1 -2.0%, E1 -1.9%, D1 -0.9%,
#: G1 -0.6% (no run worse but D1 seed 4, +0.5%).
RUIN_SHARE_COVERED = 0.75
#: Its share for an annealing search (all cores) of ANNEAL_MIN_VISITS visits or more once
#: every visit is in, where lateness is penalised: 1, so ruin and recreate anneals until the
#: construction end (`t_construct_end`) and the neighbourhoods keep the last 0.15 of the
#: limit. Why: with lateness in the objective CP-SAT's sub-models prove little (HHCRSP D10:
#: 24 free visits unproved in 20 s, bound far off) and the last quarter found 0-3 gains of
#: at most 0.2% (F1, F5, 60 s, seeds 0-3), while a longer annealing run ends better. One
#: member, 60 s, objective against 0.75: F1 -1.2% (seeds 0-7, 5 of 8 better), F5 0.0% (5
#: of 8), F9 -1.5% (seeds 0-3, 4 of 4), G1 -0.8% (4 of 4); the bench (all cores, seeds
#: 0-1) F1 -2.3%, -0.9%, F5 0.0%, -1.0%, F9 -0.1%, -1.3%. Not below ANNEAL_MIN_VISITS:
#: E4, E6, E9 -0.8% one member (5 of 6 better), but the E bench at seed 0 moved E5 +3%,
#: E4 +1.9%, E10 -2.5% (mean +0.3%). Where lateness is forbidden the neighbourhoods pay
#: (planted c40 day: +1.8%, +2.7% with 0.9; session 33), and one worker keeps its step
#: budgets (a share past `end` would leave them to the clock).
RUIN_SHARE_ANNEALING_LATE = 1.0
#: While visits are out, ruin and recreate runs in slices of this share of the limit, each
#: followed by an ejection-pool burst of BURST_SLICE_SHARE of it (`_ruin_in_slices`).
RUIN_SLICE_SHARE, BURST_SLICE_SHARE = 0.1, 0.02
#: Share of the limit for a first whole-model attempt on a small problem (up to
#: `SolveOptions.full_model_max_visits` visits), right after the first local optimum: a
#: proof there ends the solve; otherwise the local search restarts as on larger problems,
#: and the whole model gets its usual try at the end (`search.improve`). Why: small
#: problems used to skip the restarts for the whole model, which proves the A instances
#: of HHCRSP (13 services) optimal in under 1.5 s but not the B ones (33): its share found
#: nothing from the first local optimum, and B4 ended 12% over its proven optimum at 10 s
#: and at 60 s. One portfolio member, 10 s, seeds 0-1, summed objective against that: B4
#: -8.7%, B3 -2.7%, B1 -1.5%, B5 -0.8%, B6 -0.8%, B9 -0.2%, B2, B7, B8 and B10 equal; at
#: 60 s (seed 0) B4 13,854 -> 12,364, the published optimum's own objective here.
SMALL_WHOLE_SHARE = 0.1
#: Seed offset between slices.
SLICE_SEED_STEP = 7919
#: Slices only while at most this share of the visits is out: a full cover may be in reach.
#: On over-full days the bursts took time from ruin's own cover steps (`carerota bench
#: --suite standard`, 30 s, seeds 0, 2: std-c40-day objective +5%, std-c120-day +2.4%,
#: with 21% and 25% of their visits out).
SLICE_MAX_OUT = 0.02
#: Ruin and recreate's share of the limit (with its slices) when few visits are out: a
#: full cover is in reach, and the slices reached it more often than the neighbourhoods
#: after them. Planted week, 60 s, all cores: all 830 visits covered in 8 runs of 8
#: (seeds 8-22 even; travel 4,575-4,897, the hidden rota's 4,908), against 3 of the first
#: 4 (travel 4,576-4,731) with RUIN_SHARE.
RUIN_SHARE_FEW_OUT = 0.65


@dataclass(frozen=True)
class SolveOptions:
    """How to search. With workers=1 the same problem and seed give the same rota (the search
    then stops on CP-SAT deterministic time, using roughly 2/3 of the wall limit).

    time_limit: wall-clock seconds for the whole solve (never overrun by > 10%).
    workers: cores to use; 0 = all. One: a single reproducible search. Two or more: a
        portfolio of searches, one per two cores, each with two CP-SAT workers.
    seed: random seed for neighbourhood choice and CP-SAT.
    must_cover: visit ids that must stay covered (package matching keeps committed calls).
    """

    time_limit: float = 30.0
    workers: int = 0
    seed: int = 0
    must_cover: frozenset[str] = frozenset()
    full_model_max_visits: int = 60
    #: With two or more workers, run a search per two cores (the others in forked or
    #: spawned processes, with the next seeds) and keep the best rota; see `_portfolio`.
    portfolio: bool = True
    #: Ruin and recreate keeps some worse steps (simulated annealing) instead of a pure
    #: descent; the portfolio sets it on large problems given time (see `_portfolio`).
    #: None: decide from the repaired construction (`anneals`).
    anneal: bool | None = False
    #: The first constructions keep scarce carers for the visits only they can do
    #: (`optimiser.prune.reserved`); the portfolio sets it on its odd members.
    reserve: bool = False

    @classmethod
    def for_problem(cls, problem: Problem, time_limit: float | None = None, workers: int = 0,
                    seed: int | None = None) -> SolveOptions:
        """Options from the problem's own time_limit_seconds and seed unless overridden."""
        return cls(
            time_limit=time_limit if time_limit is not None else problem.time_limit_seconds,
            workers=workers,
            seed=seed if seed is not None else (problem.seed or 0),
        )


def t_construct_end(deadline: float, options: SolveOptions) -> float:
    """Construction may use most of the limit, leaving time to build the first model."""
    return deadline - 0.15 * options.time_limit


@dataclass(frozen=True)
class Result:
    """A solve's outcome: the plan, whether it is proved optimal, and the best bound."""

    plan: Plan
    optimal: bool
    bound: float | None
    unattempted: frozenset[int] = frozenset()


def solve(p: CompiledProblem, options: SolveOptions | None = None,
          start: Plan | None = None) -> Solution:
    """Best valid rota found within the time limit, as a spec solution document."""
    options = options or SolveOptions()
    t0 = time.monotonic()
    deadline = t0 + options.time_limit
    el = build_eligibility(p)
    reasons = {v.index: el.reasons[v.index] for v in p.visits if el.reasons[v.index]}
    result = _portfolio(p, el, options, deadline, start)
    status = "optimal" if result.optimal else "feasible"
    if not any(result.plan.routes) and len(reasons) == len(p.visits) and p.visits:
        status = "infeasible"  # proved by pruning: no visit can be covered by anyone
    reasons.update({v: ("time_limit",) for v in result.unattempted if v not in reasons})
    solution = to_solution(p, el, result.plan, status, time.monotonic() - t0, reasons)
    log.info("solved %s: %d/%d visits, objective %s in %.1fs", p.problem.id,
             solution.metrics.visits_assigned, len(p.visits), solution.metrics.objective,
             solution.solve_seconds)
    return solution


#: Smallest limit worth a portfolio: a spawned search needs ~0.7 s to start (imports).
PORTFOLIO_MIN_SECONDS = 4.0
#: Every portfolio search anneals (`optimiser.local._Annealing`) from this many visits and
#: this limit. Every search annealing, against all descending (all cores, seeds 0, 2, 4,
#: summed objective): HHCRSP G1 (400 visits) -1.3% at 30 s and -2.7% at 60 s, F1 (260)
#: -2.2% and -0.9%; but E1 (130) +2.5% at 60 s on six seeds and D1 (98) +0.2%, whose
#: descent stalls in seconds and restarts from fresh constructions, which suits them; and at
#: 10 s G1 1.14 x best-known against 1.12, E1 1.27 against 1.05 (too few steps to cool).
#: Every search, not every other one (session 20; all cores, 60 s, seeds 0, 2, 4): G1
#: 160,600 against 162,944 summed, F1 123,984 against 124,188; the planted week 830, 830,
#: 829 covered against 829, 830, 830, travel 4,880 / 4,951 / 4,963 against 5,023 / 5,221 /
#: 5,296 (hidden rota 4,908). The descent beside it had stalled and restarted (G1: 56,555
#: at 21 s, a fresh start's 56,464 at 46 s, where the annealing search reached 54,204).
ANNEAL_MIN_VISITS, ANNEAL_MIN_SECONDS = 200, 30.0
#: From this many visits (below ANNEAL_MIN_VISITS) a portfolio search anneals too when
#: lateness (summed and largest, weighted) is under ANNEAL_MAX_LATE_SHARE of the repaired
#: construction's objective, uncovered visits aside (`anneals`). Why: one member, 60 s,
#: seeds 0-3, annealing against descent, summed objective: HHCRSP E2-E10 (130 visits,
#: lateness 0.00-0.14 of the construction's objective) -0.9%, better on 24 of 34 runs (E7
#: -2.9%, E4 -2.1%, E5 -1.5%, E6 -1.5%; E2 +1.4%); planted c20 day (114) -3.6%, 4 of 4;
#: std-c20-day (173, a fifth of the visits out) -2.6%, its single-carer twin -1.3%. But
#: E1, D1 and D10 (lateness 0.34-0.53) lost 2-9% (seeds 0-1), and D2 and D5 (98 visits,
#: lateness 0.13-0.14) +5%, +3%, +8%, -0.9%: their descents stall in seconds and restart.
ANNEAL_LOW_VISITS, ANNEAL_MAX_LATE_SHARE = 110, 0.25


def _portfolio(p: CompiledProblem, el: Eligibility, options: SolveOptions, deadline: float,
               start: Plan | None) -> Result:
    """`solve_plan` once per two cores, with seeds seed, seed + 1, ...; the best result.

    Why: the local phases (repair, relocation, ruin and recreate) are single-threaded
    Python, so with one search a second core idles most of the limit, and runs differ
    widely by seed (HHCRSP C1 at 60 s: 1,145 and 958 for seeds 0 and 1). `carerota bench
    --suite hhcrsp` at 60 s, against session 4's one search: C1 1.21 -> 1.01 x best-known,
    D1 1.11 -> 1.10, E1 1.19 -> 1.16, F1 1.21 -> 1.20, G1 1.24 -> 1.23. Each search gets
    two CP-SAT workers; one worker keeps one reproducible search.

    On problems of ANNEAL_MIN_VISITS visits or more, given ANNEAL_MIN_SECONDS or more,
    every search anneals in ruin and recreate (`SolveOptions.anneal`); from
    ANNEAL_LOW_VISITS, where lateness weighs little (`anneals`); else they descend.
    """
    cores = options.workers or os.cpu_count() or 1
    if (cores < 2 or not options.portfolio or options.time_limit < PORTFOLIO_MIN_SECONDS
            or not p.visits):
        return solve_plan(p, el, options, deadline, start)
    members = max(2, cores // 2)
    own = replace(options, workers=max(2, cores // members), portfolio=False)
    # Fork when this is the only thread: no imports or pickling, and scripts without a
    # `__main__` guard work. Spawn otherwise (the API's solve threads), as forking a
    # threaded process can copy a held lock.
    _settle_earlier_pools(min(PORTFOLIO_SETTLE_SECONDS, 0.05 * options.time_limit))
    alone = threading.active_count() == 1
    context = multiprocessing.get_context("fork" if alone else "spawn")
    pool = ProcessPoolExecutor(max_workers=members - 1, mp_context=context)
    futures: list[Future[Result]] = []
    try:
        futures = [pool.submit(solve_plan, p, el, member_options(p, own, i), deadline, start)
                   for i in range(1, members)]
        results = [solve_plan(p, el, member_options(p, own, 0), deadline, start)]
        # The others stop on the same deadline; a little grace for the hand-over, counted
        # from the deadline (not from when this search ended, which may be past it).
        last = deadline + PORTFOLIO_GRACE * options.time_limit
        for future in futures:
            try:
                results.append(future.result(timeout=max(0.0, last - time.monotonic())))
            except Exception as exc:  # a late or failed member never fails the solve
                log.warning("portfolio search dropped: %r", exc)
    finally:
        # Not waiting for members to exit: on a loaded host their teardown took 0.1-0.3 s past
        # the deadline. The pool's own thread reaps them (callers that count their memory in
        # RUSAGE_CHILDREN join `multiprocessing.active_children()` first, as the bench does).
        pool.shutdown(wait=False, cancel_futures=True)
        if alone:  # every other thread now is the pool's (some start after `submit`)
            _POOL_THREADS.extend(t for t in threading.enumerate()
                                 if t is not threading.current_thread())
    from optimiser.search import plan_key

    must = _must(p, options)
    keys = [plan_key(p, el, r.plan, must) for r in results]  # one score each
    log.info("portfolio: %d searches, objectives %s", len(results), [k[1] for k in keys])
    return min(zip(results, keys, strict=True), key=lambda rk: (not rk[0].optimal, rk[1]))[0]


def member_options(p: CompiledProblem, own: SolveOptions, i: int) -> SolveOptions:
    """Options of the portfolio's i-th search (0: the caller's own): the next seed,
    annealing on a problem large enough, given time enough (from ANNEAL_LOW_VISITS visits
    decided once the construction is in: `anneals`), and on odd searches a construction
    that keeps scarce carers for the visits only they can do (`reserve`).

    Why odd searches only: reserving sends the search to another basin, much better where
    the scarce carer is the bottleneck and worse where it has room. One search, 60 s,
    HHCRSP D10 seeds 1-4 (with `Builder.settle`'s tied settling): 36,297 / 34,925 / 35,075
    / 35,501 reserving against 36,625 / 36,942 / 35,778 / (seed 0) 35,653 not; without it,
    D4 +2.8% over seeds 0-3, E1 +0.5%, C2 0.0%. Beside an unreserved search, the
    best of the two loses little there."""
    anneal = own.anneal
    if not anneal and own.time_limit >= ANNEAL_MIN_SECONDS:
        anneal = True if len(p.visits) >= ANNEAL_MIN_VISITS else \
            None if len(p.visits) >= ANNEAL_LOW_VISITS else anneal
    return replace(own, seed=own.seed + i, anneal=anneal, reserve=i % 2 == 1)


def anneals(p: CompiledProblem, el: Eligibility, plan: Plan) -> bool:
    """Whether a search left to decide anneals: when lateness is under
    ANNEAL_MAX_LATE_SHARE of the rota's objective, uncovered visits aside. Where lateness
    weighs much, descent's quick stalls and fresh restarts did better (ANNEAL_LOW_VISITS)."""
    w, s = p.problem.weights, score(p, el, plan)
    return s.lateness_cost(w) < ANNEAL_MAX_LATE_SHARE * (s.total - w.unassigned * s.unassigned)


#: The threads earlier portfolios' pools started (their manager threads): they outlive the
#: solve while members exit, so a script's next solve would see a second thread and spawn,
#: and spawning from a script without a `__main__` guard re-runs the script in each member
#: (they failed, and the portfolio ran one search). Joined, up to this many seconds, first.
_POOL_THREADS: list[threading.Thread] = []
PORTFOLIO_SETTLE_SECONDS = 1.0


def _settle_earlier_pools(seconds: float) -> None:
    """Wait up to `seconds` for earlier portfolios' pool threads to end (see _POOL_THREADS)."""
    end = time.monotonic() + seconds
    for thread in list(_POOL_THREADS):
        thread.join(max(0.0, end - time.monotonic()))
    _POOL_THREADS[:] = [t for t in _POOL_THREADS if t.is_alive()]


def _must(p: CompiledProblem, options: SolveOptions) -> frozenset[int]:
    """Indices of the visits `options.must_cover` names (unknown ids are ignored)."""
    return frozenset(p.visit_index[v] for v in options.must_cover if v in p.visit_index)


#: Extra wait for a portfolio member past the deadline, as a share of the limit.
PORTFOLIO_GRACE = 0.03


def solve_plan(p: CompiledProblem, el: Eligibility, options: SolveOptions, deadline: float,
               start: Plan | None = None) -> Result:
    """Construct (with cheap randomised restarts) then improve; valid at every step."""
    from optimiser.search import plan_key

    must = _must(p, options)
    end = t_construct_end(deadline, options)
    t0 = time.monotonic()
    cel = reserved(p, el) if options.reserve else el
    best = _construct_once(p, cel, start, end, None)
    spent = time.monotonic() - t0
    # Restarts in a jittered order while they stay within ~5% of the limit: the order decides
    # which visits the greedy strands, and the best start saves the search much work.
    rng = random.Random(options.seed)
    budget = t0 + 0.05 * options.time_limit
    # One worker: the count must not hang on the clock, so the construction's time is
    # estimated from its insertions, as the local phases' step budgets are. A 4 s solve of
    # an 80-visit day constructs in 7 ms against the 40 ms threshold, yet in the alone
    # tests one seed gave two rotas (78 and 79 visits constructed), most likely a stall
    # in the first construction; counted, it passed every run since.
    fixed = construction_restarts(
        p, options, len(p.visits) / steps_per_second(p, el, best, MOVE_COST)
        if options.workers == 1 else spent)
    restarts = 0
    while (restarts < fixed) if fixed is not None else (time.monotonic() + spent < min(budget, end)):
        restarts += 1
        other = _construct_once(p, cel, start, end, rng)
        if plan_key(p, el, other, must) < plan_key(p, el, best, must):
            best = other
    unattempted = best.unattempted  # construction's, before repair copies the plan
    share = REPAIR_SHARE * options.time_limit
    # One worker: steps decide, the clock (twice the share) only stops a repair whose steps
    # run far slower than budgeted (a 500-carer day: 8 a second, not 22), so later phases run.
    stop = min(end, t0 + (2 * share if options.workers == 1 else share))
    repair_spent: list[float] = []
    repaired = cover_more(p, el, best, stop, share, random.Random(options.seed), must,
                          reproducible=options.workers == 1, spent=repair_spent)
    if repaired is not best:
        log.info("repair: %d -> %d visits covered", len(best.start), len(repaired.start))
    fresh = repaired is best  # construction needed no repair: so will a fresh one, likely
    if options.anneal is None:
        options = replace(options, anneal=anneals(p, el, repaired))
        log.debug("search anneals: %s", options.anneal)
    # Neither phase takes a covered `must` visit out.
    keep = frozenset(v for v in must if v in repaired.start)
    left = options.time_limit - sum(repair_spent)
    base = repaired
    repaired, spent, stalled = _local(p, el, base, options, options.seed, keep, end)
    left -= spent
    if el.coverable and small(el, options):
        # A small problem: the whole model first, briefly (SMALL_WHOLE_SHARE); proved, it
        # is the answer.
        share = SMALL_WHOLE_SHARE * options.time_limit
        t_whole = time.monotonic()
        whole = whole_model(p, el, repaired, options, share, deadline, must,
                            [] if options.workers == 1 else None)
        if whole.optimal:
            return _finished(p, el, whole, unattempted)
        repaired = whole.plan
        left -= share if options.workers == 1 else time.monotonic() - t_whole
    # Restarts while the local search stalls early and much of the limit is left (one
    # worker: counted in steps, so runs repeat); the neighbourhoods polish the best.
    restart = 0
    best_key = plan_key(p, el, repaired, must)
    others: list[Plan] = []  # other local optima, for crossover children (CROSSOVER_POOL)
    while stalled:
        # Once every visit is in, the neighbourhoods have less to do: restarts go on longer.
        floor = RESTART_LEFT if has_uncovered(p, el, repaired) else RESTART_LEFT_COVERED
        # Wall-clock runs: a restart ends half that share of the limit before the deadline
        # at the latest, so the neighbourhood search keeps time to build and solve a model.
        # One worker: budgets end restarts, the clock only as the usual safety stop.
        restart_end = end if options.workers == 1 else \
            deadline - floor * options.time_limit / 2
        if left <= floor * options.time_limit or time.monotonic() >= restart_end:
            break
        restart += 1
        seed = options.seed + RESTART_SEED_STEP * restart
        # The first and every FRESH_EVERY-th restart start from another basin (a fresh
        # construction, or the repaired one); the others from a crossover child of the best
        # so far and an earlier local optimum, or from another basin when none fits.
        origin = repaired
        t_origin = time.monotonic()
        if restart % FRESH_EVERY != 1:
            for _try in range(3 if others else 0):  # a child may not fit: another centre
                child = crossover(p, el, repaired, rng.choice(others), rng, keep)
                if child is not None:
                    origin = child
                    break
        if origin is repaired:
            origin = _fresh_start(p, el, base, start, end, rng, keep) if fresh else base
        if options.workers != 1:  # one worker: not charged, so runs repeat
            left -= time.monotonic() - t_origin
        other, spent, stalled = _local(p, el, origin, options, seed, keep, restart_end)
        # At least a hundredth of the limit each, so a search that takes no steps ends.
        left -= max(0.01 * options.time_limit,
                    RESTART_CHARGE * spent if options.workers == 1 else spent)
        other_key = plan_key(p, el, other, must)
        if other_key < best_key:
            other, repaired, best_key = repaired, other, other_key
        others = [*others, other][-CROSSOVER_POOL:]
    if restart:
        log.debug("%d restarts of the local search", restart)
    # One worker: the neighbourhoods' deterministic budget covers what the local phases
    # left of the limit, counted in their steps (a phase that stops early, at a local
    # optimum, leaves its share to the neighbourhoods), so the clock never cuts it and the
    # same seed repeats.
    limit = left if options.workers == 1 else options.time_limit
    result = improve(p, el, repaired, replace(options, time_limit=limit), deadline, must)
    return _finished(p, el, result, unattempted)


def _finished(p: CompiledProblem, el: Eligibility, result: Result,
              unattempted: frozenset[int]) -> Result:
    """The result with its stops moved towards their preferred minutes (last: nothing after
    needs routes packed) and construction's unattempted visits."""
    return replace(result, plan=polished(p, el, result.plan), unattempted=unattempted)


#: Restart the local search (relocation, ruin and recreate) with a new seed, from the best
#: so far and from the repaired construction in turn, while it ends early (a ruin stall)
#: and more than this share of the limit is left. Why: on small instances the ruin stalls
#: in a few seconds in a basin its seed decides (HHCRSP C1, one worker: 42,871 or 29,211 by
#: seed at 2-3 s), and 20 s of neighbourhoods then found nothing. One worker, 30 s, seeds
#: 0-2, summed set cost: C1 3,844 -> 2,843 (each within 0.9% of best-known), D1 -1.9%, E1
#: -2.0%; F1, G1 and the planted week and c40 unchanged (their ruin runs its budget);
#: planted c20 objective +1.6-2.4% on two seeds (less time left for neighbourhoods), cover
#: unchanged. 0.5, not 0.35, keeps restarts off where the ruin ends past mid-limit.
#: Alternating, against always from the construction: C1, D1, E1 -0.2%, -0.5%, +0.1%; it
#: keeps a mid-limit stall from being wasted (F1 at 60 s, all cores: a restart from the
#: construction did worse than the stalled rota). Even restarts take a fresh jittered
#: construction where construction needs no repair (`_fresh_start`).
RESTART_LEFT = 0.5
#: RESTART_LEFT once every visit is in. Why: the neighbourhoods then only polish, and on
#: HHCRSP E1 (60 s) they found nothing in the half of the limit restarts left them (0 and 1
#: gains in 30 s), while each fresh restart is another basin. One portfolio member, 60 s,
#: side by side, summed objective against 0.5: E1 -1.95% (seeds 0-11; better on 8, equal
#: within 0.1% on 4), D1 -0.6% (seeds 0-5, none worse by more than 0.1%). Not while
#: visits are out: there the neighbourhoods cover them (planted days).
RESTART_LEFT_COVERED = 0.2
#: One worker: a restart counts its steps' seconds this many times over (C1's restarts ran
#: 1.33 wall seconds for 0.95 counted before steps counted their overhead, see
#: `optimiser.local.MOVE_COST`; kept as headroom for a loaded host), so a reproducible run
#: still ends on its budgets, not the clock.
RESTART_CHARGE = 1.5
#: Local optima kept for crossover (`optimiser.local.crossover`): restarts between the fresh
#: ones go on from a child of the best and one of these (the last ones the restarts left
#: behind), not from the best itself, where ruin and recreate stalled at once.
CROSSOVER_POOL = 3
#: Every this many restarts, from the first, one starts from another basin (a fresh
#: construction, or the repaired one); the others go on from crossover children, or from
#: another basin too when no child fits. Why not from the best rota then (before session
#: 29): such a restart ended where it began (HHCRSP E2, one portfolio member, 60 s, seed 0:
#: 5 of 25 restarts began and ended at the best, 25,007). One member, 60 s, seeds 0-3,
#: summed objective against that: E2 -1.5% (4 of 4 better), E7 -0.7% (4 of 4), E1 -0.9%,
#: D1 -0.6%, E5 -0.1%, D2 +1.1% (2 of 4); -0.6% over the six, better on 15 of 24 runs.
FRESH_EVERY = 4
#: Seed offset between restarts (portfolio members use the next seeds).
RESTART_SEED_STEP = 1000


def construction_restarts(p: CompiledProblem, options: SolveOptions, spent: float) -> int | None:
    """How many jittered construction restarts follow the first construction (which took
    `spent` seconds; one worker: as its insertions are counted, see `solve_plan`): a fixed
    count, decided on a coarse threshold, or None for as many as fit in 5% of the limit.

    Why a fixed count with one worker: rotas stay reproducible. Why also with all cores when
    lateness is only penalised: the best-scoring of many constructions is not the best
    start (HHCRSP D1: the constructions that scored best led to worse optima), and fewer
    restarts pick less hard on that score. All cores, 30 s, summed set cost against as many
    as fit: D1 -3.6% (seeds 0, 2, 4) and -5.1% (seeds 6, 8; better or equal on all five),
    C1 -0.5%, E1 -0.5% (0, 2, 4) and +0.4% (6, 8), G1 -0.9%, F1 +2.0% (0, 2, 4). Not where
    lateness is forbidden: there the restarts decide which visits construction strands
    (planted days), and a slow construction would allow none."""
    if options.workers == 1 or p.lateness_penalised:
        return 4 if spent * 5 < 0.05 * options.time_limit else 0
    return None


def _fresh_start(p: CompiledProblem, el: Eligibility, base: Plan, start: Plan | None, end: float,
                 rng: random.Random, keep: frozenset[int]) -> Plan:
    """A new jittered construction for a restart, if it covers as much as `base` and every
    kept visit; else `base`.

    Why: restarts from one construction end in basins that construction decides. On HHCRSP
    D1 the best-scoring of many constructions (all cores) led every restart to 36-40k, where
    one worker's best of five, scored 10% worse after relocation, led to 34.7-35.7k. All
    cores, 30 s, seeds 0-8 summed, against restarts from the one construction: D1 -2.4%,
    C1 -1.1%, E1 -0.5% (seeds 0-8), F1 -0.7% (0-4), G1 -0.4% (6-8). Only where construction
    needed no repair (a fresh one that leaves visits out would need its own).
    """
    fresh = _construct_once(p, el, start, end, rng)
    if all(v in fresh.start for v in keep) and \
            score(p, el, fresh).unassigned <= score(p, el, base).unassigned:
        return fresh
    return base


def _local(p: CompiledProblem, el: Eligibility, plan: Plan, options: SolveOptions, seed: int,
           keep: frozenset[int], end: float) -> tuple[Plan, float, bool]:
    """Relocation then ruin and recreate; the plan, the seconds of the limit they count
    as spent (one worker: steps over their rates) and whether the ruin stalled early."""
    spent, stalled, t0 = 0.0, False, time.monotonic()
    for phase, fraction, cost in ((relocate, LOCAL_SHARE, MOVE_COST),
                                  (ruin_recreate, RUIN_SHARE, STEP_COST)):
        if phase is ruin_recreate and not has_uncovered(p, el, plan):
            fraction = RUIN_SHARE_ANNEALING_LATE if options.anneal and p.lateness_penalised \
                and len(p.visits) >= ANNEAL_MIN_VISITS and options.workers != 1 \
                else RUIN_SHARE_COVERED
        elif phase is ruin_recreate and _few_out(p, el, plan):
            fraction = RUIN_SHARE_FEW_OUT
        share = fraction * options.time_limit
        # One worker: a step budget, not the clock, ends the phase, so runs repeat. (The
        # rate walks every visit's eligible vehicles: only that budget needs it.)
        rate = steps_per_second(p, el, plan, cost) if options.workers == 1 else None
        steps = int(rate * share) if rate is not None else 10**9
        used: list[int] = []
        # (Its clock is then only the safety stop at `end`, so a loaded machine repeats too.)
        t_phase = time.monotonic()
        stop = end if options.workers == 1 else min(end, t_phase + share)
        if phase is ruin_recreate:
            plan, pool_spent = _ruin_in_slices(p, el, plan, options, seed, keep, stop, steps,
                                               rate, used)
            spent += pool_spent
            stalled = used[0] < 0.5 * steps if rate is not None else \
                time.monotonic() - t_phase < 0.5 * share
        else:
            plan = phase(p, el, plan, stop, random.Random(seed), keep, steps, used)
        if rate is not None:
            spent += used[0] / rate
        if log.isEnabledFor(logging.DEBUG):  # a full score is O(visits): only when asked
            log.debug("%s: %d steps, objective %d", phase.__name__, used[0],
                      score(p, el, plan).total)
    return plan, (spent if options.workers == 1 else time.monotonic() - t0), stalled


def _ruin_in_slices(p: CompiledProblem, el: Eligibility, plan: Plan, options: SolveOptions,
                    seed: int, keep: frozenset[int], stop: float, steps: int,
                    rate: float | None, used: list[int]) -> tuple[Plan, float]:
    """Ruin and recreate until `stop` (one worker: `steps` steps). While visits are out it
    runs in slices of RUIN_SLICE_SHARE of the limit, each a fresh annealing (or descent)
    run from the last one's best, followed by an ejection-pool burst (`cover_more`) of
    BURST_SLICE_SHARE of it, taken from the phase's time; once every visit is in, one run
    takes the rest.
    Only while few visits are out (SLICE_MAX_OUT). Appends the ruin steps taken to `used`;
    returns the rota and, one worker, the seconds of budget the bursts took.

    Why: ruin and recreate's own cover steps placed few of the last visits of a tight week,
    and an ejection pool placed more after it than before it, as ruin had re-packed the
    routes around them. From one repaired planted-week rota (824 of 830 visits), 36 s
    (seeds 0-16): 30 s of ruin then 6 s of pool covered all 830 in 6 runs of 17 (827-829
    in the others); slices of 5 s ruin + 1 s pool in 13 (829 in the others), with as
    little travel (4,622-4,911 against 4,662-4,931). Bursts inside one annealing run,
    every 6 s, without its fresh start: 2 of 8. Slices of 10 + 2 s: 6 of 9."""
    taken, pool_spent, t0, piece = 0, 0.0, time.monotonic(), 0
    one = rate is not None
    slice_seconds = RUIN_SLICE_SHARE * options.time_limit
    burst_seconds = BURST_SLICE_SHARE * options.time_limit

    def budget_left() -> int:  # one worker: ruin steps left, the bursts' seconds taken off
        return steps - taken - int(rate * pool_spent) if rate is not None else 10**9

    while _few_out(p, el, plan):
        if (budget_left() < (slice_seconds + burst_seconds) * rate if rate is not None
                else time.monotonic() + slice_seconds + burst_seconds > stop):
            break
        piece += 1
        rng = random.Random(seed + piece * SLICE_SEED_STEP)
        part: list[int] = []
        plan = ruin_recreate(p, el, plan, min(stop, time.monotonic() + slice_seconds), rng,
                             keep, int(rate * slice_seconds) if rate is not None else 10**9,
                             part, anneal=bool(options.anneal))
        taken += part[0]
        burst: list[float] = []
        plan = cover_more(p, el, plan, stop if one else min(stop, time.monotonic() + burst_seconds),
                          burst_seconds, rng, keep, reproducible=one, spent=burst)
        pool_spent += sum(burst)
    if piece:
        log.debug("ruin and recreate: %d slices with ejection-pool bursts in %.1f s", piece,
                  time.monotonic() - t0)
    part = []
    plan = ruin_recreate(p, el, plan, stop, random.Random(seed), keep, max(0, budget_left()),
                         part, anneal=bool(options.anneal))
    used.append(taken + part[0])
    return plan, pool_spent


def _few_out(p: CompiledProblem, el: Eligibility, plan: Plan) -> bool:
    """Some visits a carer could take are out, but at most SLICE_MAX_OUT of them."""
    return 0 < len(uncovered(p, el, plan)) <= SLICE_MAX_OUT * len(p.visits)


def _construct_once(p: CompiledProblem, el: Eligibility, start: Plan | None, end: float,
                    rng: random.Random | None) -> Plan:
    if p.lateness_penalised and p.visits:
        # Windows first as if they were hard, then relaxed step by step, so lateness stays
        # the exception and small where it is needed (one open-ended pass made it huge).
        width = sum(v.latest - v.earliest for v in p.visits) / len(p.visits) or 60
        for factor in (0, 0.25, 0.5, 1, 2, 4):
            relaxed = replace(el, latest_of=tuple(
                min(el.latest_of[v.index], v.latest + int(factor * width)) for v in p.visits))
            start = without_half_pairs(p, el, construct(p, relaxed, start, deadline=end, rng=rng))
    return construct(p, el, start, deadline=end, rng=rng)
