"""One evaluation: view → solve (budgeted, in a watchdog thread) → validate → score → Result.

A method that raises, exceeds its budget or returns an invalid answer yields a ``failed`` Result with the
reason; nothing here raises for a method's fault, so ``mirl bench`` always moves on to the next pair.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from mirl.errors import BudgetExceededError, InvalidAnswerError, MirlError, one_line
from mirl.method import Method, instantiate
from mirl.provenance import provenance
from mirl.schemas import Compute, Result, utc_now
from mirl.seeding import check_seed, seed_everything
from mirl.task import Task

# Extra wall time granted beyond the budget before the watchdog gives up on a method that never returns
# (its thread is a daemon and cannot be killed; the run is recorded as failed and the bench moves on).
WATCHDOG_GRACE_SECONDS = 5.0


@dataclass
class _Outcome:
    answer: Any = None
    error: BaseException | None = None
    done: bool = False


def _solve_with_watchdog(method: Method, view: Any, limit: float) -> _Outcome:
    outcome = _Outcome()

    def target() -> None:
        try:
            outcome.answer = method.solve(view)
        except BaseException as exc:  # reported as a failed result, never propagated
            outcome.error = exc
        finally:
            outcome.done = True

    thread = threading.Thread(target=target, name=f"mirl-solve-{method.info.name}", daemon=True)
    thread.start()
    thread.join(limit + WATCHDOG_GRACE_SECONDS)
    if not outcome.done:
        outcome.error = BudgetExceededError(
            f"budget exceeded: solve() still running after {limit + WATCHDOG_GRACE_SECONDS:g} s "
            f"(wall budget {limit:g} s)"
        )
    return outcome


@dataclass
class Solution:
    """What one method answered on one (task, seed): its validated answer, or why there is none, and the
    compute it used. ``evaluate`` scores it; ``check_method`` solves twice and compares the answers."""

    answer: Any
    error: str | None
    compute: Compute


def solve(task: Task, method_cls: type[Method] | Method, seed: int = 0) -> Solution:
    """Run the method's ``solve`` on the task's view for ``seed`` (budgeted) and validate its answer."""
    seed = check_seed(seed)  # the caller's mistake, not the method's: raised, not stored
    spec = task.spec
    method = instantiate(method_cls)
    info = method.info
    if not method.supports(spec.answer_kind, spec.family, spec.offers):
        return Solution(None, f"method {info.name!r} does not produce {spec.answer_kind} answers for family "
                        f"{spec.family!r}" + (f" with {sorted(info.requires)}" if info.requires else ""), Compute())
    try:
        view = task.view(seed)  # verifies the agent's sha256 and seeds everything
    except MirlError as exc:
        return Solution(None, str(exc), Compute())
    meter = view.meter
    meter.started = time.perf_counter()  # the budget covers solve() only, not loading the agent
    outcome = _solve_with_watchdog(method, view, spec.budget.wall_seconds)
    compute = Compute(
        env_steps=meter.env_steps, forward_passes=meter.forward_passes, wall_seconds=round(meter.wall_seconds, 4)
    )
    if outcome.error is not None:
        return Solution(None, one_line(outcome.error), compute)
    if compute.wall_seconds > spec.budget.wall_seconds:
        return Solution(None, f"budget exceeded: {compute.wall_seconds:.1f} s wall time > "
                        f"{spec.budget.wall_seconds:g} s allowed", compute)
    try:
        return Solution(task.validate_answer(outcome.answer), None, compute)
    except InvalidAnswerError as exc:
        return Solution(None, str(exc), compute)


def evaluate(
    task: Task,
    method_cls: type[Method] | Method,
    seed: int = 0,
    method_plugin: str | None = None,
    task_plugin: str | None = None,
    solution: Solution | None = None,
) -> Result:
    """Run one (task, method, seed) and return its Result (status ok or failed); ``solution``, the method's
    ``solve`` for the same (task, seed) where the caller has it already."""
    seed = check_seed(seed)
    spec = task.spec
    info = instantiate(method_cls).info
    primary = spec.metric(spec.primary_metric)
    base = dict(
        result_id=uuid.uuid4().hex,
        task_id=spec.id,
        task_version=spec.version,
        task_family=spec.family,
        agent_id=spec.agent.id,
        agent_sha256=spec.agent.sha256,
        method=info.name,
        method_version=info.version,
        seed=seed,
        primary_metric=primary.name,
        higher_is_better=primary.higher_is_better,
    )

    def failed(reason: str, compute: Compute) -> Result:
        return Result(
            **base, status="failed", error=reason, compute=compute,
            provenance=provenance(method_plugin, task_plugin), created_at=utc_now(),
        )

    solution = solve(task, method_cls, seed) if solution is None else solution
    compute, answer = solution.compute.model_copy(), solution.answer
    if solution.error is not None:
        return failed(solution.error, compute)

    started = time.perf_counter()
    seed_everything(seed)  # the scorer's draws do not depend on what the method consumed
    try:
        report = task.score(answer, seed)
    except Exception as exc:  # keep the bench going; the reason is stored with the result
        return failed(f"scoring failed: {type(exc).__name__}: {exc}".splitlines()[0], compute)
    compute.scoring_seconds = round(time.perf_counter() - started, 4)
    normalized = report.normalized_score
    metrics = {k: float(v) for k, v in report.metrics.items() if math.isfinite(v)}
    metrics["floor"] = float(report.floor)
    metrics["ceiling"] = float(report.ceiling)
    if spec.control_target is not None:
        metrics.update(_control(task, method_cls, seed, float(report.score)))
    return Result(
        **base,
        status="ok",
        score=float(report.score),
        ci=(float(report.ci[0]), float(report.ci[1])),
        normalized_score=float(normalized) if math.isfinite(normalized) else None,
        n=report.n,
        metrics=metrics,
        instances=None if report.instances is None else [float(v) for v in np.asarray(report.instances).ravel()],
        compute=compute,
        provenance=provenance(method_plugin, task_plugin),
        created_at=utc_now(),
    )


def _control(task: Task, method_cls: type[Method] | Method, seed: int, score: float) -> dict[str, float]:
    """Fit a fresh instance of the method on the task's control target and score it on the control labels
    (Hewitt & Liang 2019): ``control_score`` and ``selectivity`` = score − control score. A failing control
    run never costs the result its primary score: it is recorded as ``control_failed`` = 1."""
    spec = task.spec
    try:
        view = task.control_view(seed)
        view.meter.started = time.perf_counter()
        outcome = _solve_with_watchdog(instantiate(method_cls), view, spec.budget.wall_seconds)
        if outcome.error is not None:
            raise outcome.error
        seed_everything(seed)
        control = float(task.score_control(task.validate_answer(outcome.answer), seed).score)
    except Exception:  # noqa: BLE001 — any failure of the control run is reported as such, nothing more
        return {"control_failed": 1.0}
    return {"control_score": control, "selectivity": score - control,
            "control_wall_seconds": round(view.meter.wall_seconds, 4)}


def record(result: Result, store: Any, sink: Any = None) -> None:
    """Store a result locally first, then hand it to the W&B sink (which never raises)."""
    store.add(result)
    if sink is not None:
        from mirl.leaderboards.stats import task_rows

        rows = [row.as_dict() for row in task_rows(store.results(task=result.task_id))]
        sink.log_result(result, rows)
