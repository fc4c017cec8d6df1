"""One evaluation: view → solve (budgeted) → validate → score → Result.

``solve()`` runs in a sealed worker process (``mirl.sealed``, ``mirl.worker``): the method holds the spec, its
seed and a copy of the agent, and asks this process for the train split; its answer comes back as data and is
scored here with the scorer's own copy of the pinned agent. With ``sealed=False`` (``mirl run --in-process``,
``MIRL_IN_PROCESS=1``) it runs in a watchdog thread of this process instead, for debugging.

A method that raises, exits, crashes, exceeds its budget or returns an invalid answer yields a ``failed``
Result with the reason; nothing here raises for a method's fault, so ``mirl bench`` always moves on.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mirl.errors import BudgetExceededError, InvalidAnswerError, MirlError, one_line, warn_once
from mirl.method import Method, instantiate
from mirl.provenance import provenance
from mirl.schemas import Compute, Result, utc_now
from mirl.seeding import check_seed, seed_everything, test_salt
from mirl.task import Task

if TYPE_CHECKING:
    from mirl.sealed import Template
    from mirl.task import TaskView

# Extra wall time granted beyond the budget before the watchdog gives up on a method that never returns
# (its thread is a daemon and cannot be killed; the run is recorded as failed and the bench moves on).
WATCHDOG_GRACE_SECONDS = 5.0

_TEMPLATE: Template | None = None


def template() -> Template:
    """This process's warm template for sealed workers (started on first use, ~4 s; closed at exit)."""
    global _TEMPLATE
    if _TEMPLATE is None or not _TEMPLATE.alive:
        from mirl.sealed import Template

        _TEMPLATE = Template(preload=("numpy", "torch", "mirl.schemas", "mirl.wire", "cloudpickle",
                                      "mirl.worker:warm_up"))
        atexit.register(_TEMPLATE.close)
    return _TEMPLATE


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
            f"budget exceeded: still running after {limit + WATCHDOG_GRACE_SECONDS:g} s "
            f"(wall budget {limit:g} s)"
        )
    return outcome


@dataclass
class Solution:
    """What one method answered on one (task, seed): its validated answer, or why there is none, the compute it
    used and whether it ran sealed. ``evaluate`` scores it; ``check_method`` solves twice and compares."""

    answer: Any
    error: str | None
    compute: Compute
    sealed: bool | str  # True, "partial" (a worker of this process's user: see ``sealing``) or False (in-process)


def sealed_by_default() -> bool:
    """Methods run sealed unless ``MIRL_IN_PROCESS=1`` (``mirl run --in-process``: a debugger can step into them)."""
    return os.environ.get("MIRL_IN_PROCESS", "") != "1"


def sealing() -> bool | str:
    """How sealed a worker run is here: True where workers run as an unprivileged user of their own (they cannot
    read this process's memory, environment or salt file), "partial" where they run as this process's user (their
    own process and view, but not a barrier: said once, as a warning, when a private salt is set)."""
    if template().own_user:
        return True
    if test_salt():
        warn_once(f"sealed workers run as this process's user ({template().same_user_reason}): a method could read "
                  "the private salt; results are marked sealed: partial")
    return "partial"


def is_reference(method: Method) -> bool:
    """mirl's own ``oracle``, a scorer-side known-answer tool that reads the ground truth: it runs in the scoring
    process (marked ``sealed: false``). Decided by the class itself, so that no plugin can claim it."""
    from mirl.reference import Oracle

    return type(method) is Oracle


def solve(task: Task, method_cls: type[Method] | Method, seed: int = 0, sealed: bool | None = None) -> Solution:
    """Run the method's ``solve`` on the task's view for ``seed`` (budgeted) and validate its answer; in a sealed
    worker (``mirl.sealed``) or, with ``sealed=False``, in a thread of this process."""
    seed = check_seed(seed)  # the caller's mistake, not the method's: raised, not stored
    sealed = sealed_by_default() if sealed is None else sealed
    spec = task.spec
    method = instantiate(method_cls)
    info = method.info
    if not method.supports(spec.answer_kind, spec.family, spec.offers):
        return Solution(None, f"method {info.name!r} does not produce {spec.answer_kind} answers for family "
                        f"{spec.family!r}" + (f" with {sorted(info.requires)}" if info.requires else ""), Compute(),
                        sealed)
    sealed = sealed and not is_reference(method)
    try:
        view = task.view(seed)  # verifies the agent's sha256 and seeds everything
    except MirlError as exc:
        return Solution(None, str(exc), Compute(), sealed)
    if sealed:
        sealed = sealing()
    answer, error, compute = _run_solve(method, view, sealed)
    if error is None and compute.wall_seconds > spec.budget.wall_seconds:
        error = f"budget exceeded: {compute.wall_seconds:.1f} s wall time > {spec.budget.wall_seconds:g} s allowed"
    if error is not None:
        return Solution(None, error, compute, sealed)
    try:
        return Solution(task.validate_answer(answer), None, compute, sealed)
    except InvalidAnswerError as exc:
        return Solution(None, str(exc), compute, sealed)


def _run_solve(method: Method, view: TaskView, sealed: bool | str) -> tuple[Any, str | None, Compute]:
    """(answer, None, compute) or (None, one-line reason, compute) of ``method.solve`` on ``view``'s task."""
    limit = view.spec.budget.wall_seconds
    meter = view.meter
    if not sealed:
        meter.started = time.perf_counter()  # the budget covers solve() only, not loading the agent
        outcome = _solve_with_watchdog(method, view, limit)
        compute = Compute(env_steps=meter.env_steps, forward_passes=meter.forward_passes,
                          wall_seconds=round(meter.wall_seconds, 4))
        return outcome.answer, None if outcome.error is None else one_line(outcome.error), compute
    import torch

    from mirl.worker import ServedView, run_method

    served = ServedView(view)
    agents = {agent_id: agent._agent for agent_id, agent in view.agents.items()} if view.spec.agents else {}
    meter.started = time.perf_counter()
    try:
        outcome = template().call(run_method, method, view.spec, view.seed, view.agent._agent, agents,
                                  torch.get_num_threads(), wall_seconds=limit,
                                  memory_bytes=int(view.spec.budget.memory_gib * 2**30),
                                  serve=served.serve, imports=_modules_of(method, view.agent._agent, *agents.values()))
    finally:
        served.close()
    reported = outcome.answer if isinstance(outcome.answer, dict) else {}
    counts = {name: (_count(reported.get(name)), served.spent[name]) for name in ("env_steps", "forward_passes")}
    compute = Compute(**{name: max(counted) for name, counted in counts.items()},
                      wall_seconds=round(outcome.seconds, 4), cpu_seconds=round(outcome.cpu_seconds, 4),
                      self_reported=any(own > served for own, served in counts.values()))
    if outcome.error is not None:
        return None, outcome.error, compute
    if "answer" not in reported:
        return None, "the method's process sent no answer", compute
    return reported["answer"], None, compute


def _modules_of(*objects: Any) -> tuple[str, ...]:
    """The modules that define ``objects``' classes, for the template to import once rather than every worker."""
    return tuple(dict.fromkeys(type(o).__module__ for o in objects))


def _count(value: Any) -> int:
    """A count the worker reported (self-reported: never trusted to be a number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def evaluate(
    task: Task,
    method_cls: type[Method] | Method,
    seed: int = 0,
    method_plugin: str | None = None,
    task_plugin: str | None = None,
    sealed: bool | None = None,
    solution: Solution | None = None,
) -> Result:
    """Run one (task, method, seed) and return its Result (status ok or failed); ``sealed`` as in ``solve``;
    ``solution``, the method's ``solve`` for the same (task, seed) where the caller has it already."""
    seed = check_seed(seed)
    spec = task.spec
    method = instantiate(method_cls)
    info = method.info
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

    solution = solve(task, method_cls, seed, sealed) if solution is None else solution
    base["sealed"] = solution.sealed
    base["reference"] = is_reference(method)
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
        metrics.update(_control(task, method_cls, seed, float(report.score), solution.sealed))
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


def _control(task: Task, method_cls: type[Method] | Method, seed: int, score: float,
             sealed: bool) -> dict[str, float]:
    """Fit a fresh instance of the method on the task's control target and score it on the control labels
    (Hewitt & Liang 2019): ``control_score`` and ``selectivity`` = score − control score. A failing control
    run never costs the result its primary score: it is recorded as ``control_failed`` = 1."""
    try:
        view = task.control_view(seed)
        answer, error, compute = _run_solve(instantiate(method_cls), view, sealed)
        if error is not None:
            raise MirlError(error)
        seed_everything(seed)
        control = float(task.score_control(task.validate_answer(answer), seed).score)
    except Exception:  # noqa: BLE001 — any failure of the control run is reported as such, nothing more
        return {"control_failed": 1.0}
    return {"control_score": control, "selectivity": score - control,
            "control_wall_seconds": compute.wall_seconds}


def record(result: Result, store: Any, sink: Any = None) -> None:
    """Store a result locally first, then hand it to the W&B sink (which never raises)."""
    store.add(result)
    if sink is not None:
        from mirl.leaderboards.stats import task_rows

        rows = [row.as_dict() for row in task_rows(store.results(task=result.task_id))]
        sink.log_result(result, rows)
