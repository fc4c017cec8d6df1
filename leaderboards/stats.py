"""Leaderboard statistics: which result represents a method on a task, ranking, ties by overlapping CIs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mirl.schemas import Result


# mirl's scorer-side known-answer tools, which run in the scoring process by design (mirl.runner.is_reference);
# by name only for results stored before Result.reference existed
REFERENCE_METHODS = ("oracle",)


@dataclass
class Row:
    """One method on one task's leaderboard."""

    rank: int | None
    tied: bool
    method: str
    method_version: str
    status: str
    score: float | None
    ci_low: float | None
    ci_high: float | None
    normalized_score: float | None
    n: int
    seed: int
    runs: int
    env_steps: int
    forward_passes: int
    wall_seconds: float
    date: str
    error: str | None
    result_id: str
    normalized_ci_low: float | None = None
    normalized_ci_high: float | None = None
    seeds: int = 1
    """Seeds with an ok result (a stochastic method runs on several: ``mirl bench --stochastic-seeds``)."""
    sealed: bool | str | None = None
    """How the result's solve() ran (``Result.sealed``): True or "partial" in a worker process (of its own user, or
    of mirl's), False in the scoring process (--in-process, or mirl's reference oracle, by design); None: stored
    before mirl said."""

    reference: bool = False
    """mirl's known-answer tool (``Result.reference``): shown after the ranked rows, never ranked."""
    seed_mean: float | None = None
    seed_sd: float | None = None
    """Mean and standard deviation over those seeds of the normalised score (the raw score where a result
    has none); None for one seed."""

    @property
    def marked_in_process(self) -> bool:
        """Shown as "(in-process)" on the boards: run unsealed by choice, not mirl's reference oracle."""
        return self.sealed is False and not self.reference

    def as_dict(self) -> dict:
        return asdict(self)


def _normalized_ci(result: Result) -> tuple[float | None, float | None]:
    """The score's CI mapped through the result's own floor → 0, ceiling → 1 (ordered low, high)."""
    floor, ceiling = result.metrics.get("floor"), result.metrics.get("ceiling")
    if result.ci is None or floor is None or ceiling is None or ceiling == floor:
        return None, None
    low, high = sorted((c - floor) / (ceiling - floor) for c in result.ci)
    return low, high


def _row(result: Result, runs: int) -> Row:
    ci = result.ci or (None, None)
    norm_low, norm_high = _normalized_ci(result)
    return Row(
        rank=None, tied=False, method=result.method, method_version=result.method_version, status=result.status,
        score=result.score, ci_low=ci[0], ci_high=ci[1], normalized_score=result.normalized_score, n=result.n,
        seed=result.seed, runs=runs, env_steps=result.compute.env_steps,
        forward_passes=result.compute.forward_passes, wall_seconds=result.compute.wall_seconds,
        date=result.created_at[:10], error=result.error, result_id=result.result_id,
        normalized_ci_low=norm_low, normalized_ci_high=norm_high, sealed=result.sealed,
        reference=_is_reference(result),
    )


def _is_reference(result: Result) -> bool:
    """The runner marks it; an oracle result stored before it did is one that ran in the scoring process."""
    return result.reference or (result.method in REFERENCE_METHODS and result.sealed in (False, None))


def _seed_spread(row: Row, ok: list[Result]) -> None:
    """Fill the row's seed spread from each seed's latest ok result (``ok`` is in creation order)."""
    per_seed = {r.seed: r for r in ok}
    values = [r.normalized_score if r.normalized_score is not None else r.score for r in per_seed.values()]
    row.seeds = len(per_seed)
    if len(values) > 1 and all(v is not None for v in values):
        row.seed_mean = float(sum(values) / len(values))
        row.seed_sd = float((sum((v - row.seed_mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5)


def _overlap(a: Row, b: Row, normalized: bool = False) -> bool:
    if normalized:
        return (a.normalized_ci_low is not None and b.normalized_ci_low is not None
                and a.normalized_ci_low <= b.normalized_ci_high and b.normalized_ci_low <= a.normalized_ci_high)
    return a.ci_low is not None and b.ci_low is not None and a.ci_low <= b.ci_high and b.ci_low <= a.ci_high


def task_rows(results: list[Result]) -> list[Row]:
    """Rows for one task, best first: each method's latest ok result (or its latest failure if it never
    succeeded); a row whose CI overlaps the row above shares its rank. Reference rows (the oracle, which reads
    the ground truth) follow the ranked ones, unranked; failures come last."""
    by_method: dict[str, list[Result]] = {}
    for r in sorted(results, key=lambda r: r.created_at):
        by_method.setdefault(r.method, []).append(r)
    ok_rows, reference_rows, failed_rows = [], [], []
    for runs in by_method.values():
        ok = [r for r in runs if r.status == "ok"]
        if ok:
            row = _row(ok[-1], len(runs))
            _seed_spread(row, ok)
            (reference_rows if row.reference else ok_rows).append(row)
        else:
            failed_rows.append(_row(runs[-1], len(runs)))
    # Where floors are measured per answer (size-matched random-edit controls), raw scores of two methods sit
    # on different scales; the normalised score (each result's own floor → 0, ceiling → 1) does not. So rank by
    # it whenever every row has one (for a fixed floor and ceiling the order is the same as by raw score).
    normalized = bool(ok_rows) and all(r.normalized_score is not None and r.normalized_ci_low is not None
                                       for r in ok_rows)
    higher = results[0].higher_is_better if results else True
    if normalized:
        ok_rows.sort(key=lambda row: (-row.normalized_score, row.method))
    else:
        ok_rows.sort(key=lambda row: (-row.score if higher else row.score, row.method))
    for i, row in enumerate(ok_rows):
        if i > 0 and _overlap(row, ok_rows[i - 1], normalized):
            row.rank, row.tied = ok_rows[i - 1].rank, True
            ok_rows[i - 1].tied = True
        else:
            row.rank = i + 1
    by_name = lambda row: row.method  # noqa: E731
    return ok_rows + sorted(reference_rows, key=by_name) + sorted(failed_rows, key=by_name)


def leaderboards(results: list[Result]) -> dict[str, list[Row]]:
    """Task id → rows, for every task with stored results."""
    by_task: dict[str, list[Result]] = {}
    for r in results:
        by_task.setdefault(r.task_id, []).append(r)
    return {task: task_rows(rs) for task, rs in sorted(by_task.items())}
