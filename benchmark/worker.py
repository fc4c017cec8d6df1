"""A method's side of a sealed run: the view it gets in its worker, and the parent's service behind that view.

In the worker (``mirl.sealed``) a method holds a ``WorkerView``: the public spec, its seed and ``rng``, budgeted
copies of the agent(s), and nothing of the Task. What needs the Task — the train split (``train_data``,
``steering_pairs``, ``interchange_pairs``) and train environments (``make_env``) — is asked of the parent, which
serves it from a ``TaskView`` of its own (``serve_view``), counts the compute it spent on the method's behalf
and sends back the running totals with each reply. The counts a worker reports at the end are its own
(self-reported); wall time is the parent's clock.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from mirl.errors import MirlError
from mirl.schemas import TaskSpec
from mirl.seeding import seed_everything
from mirl.task import BudgetedAgent, ComputeMeter, TrainData, View

if TYPE_CHECKING:
    from mirl.hooked import HookedAgent
    from mirl.task import TaskView


class WorkerView(View):
    """What ``solve()`` gets in a sealed worker; the same calls as ``mirl.task.TaskView``."""

    def __init__(self, spec: TaskSpec, seed: int, agent: HookedAgent, agents: dict[str, HookedAgent]):
        self.spec = spec
        self.seed = seed
        self.rng = seed_everything(seed)
        self.meter = ComputeMeter(spec.budget)
        self.agent = BudgetedAgent(agent, self.meter, spec.hook_points)
        self._agents = {agent_id: BudgetedAgent(a, self.meter, spec.hook_points) for agent_id, a in agents.items()}

    def train_data(self, n: int | None = None, hooks: list[str] | None = None) -> TrainData:
        """``n`` labelled train-split states (default: the whole split) with activations at ``hooks``."""
        return self._ask("train_data", n=n, hooks=None if hooks is None else list(hooks))

    def steering_pairs(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` train-split observations without and with the task's feature."""
        return self._ask("steering_pairs", n=n)

    def interchange_pairs(self, n: int | None = None) -> Any:
        """``n`` train-split (base, source, counterfactual) observations."""
        return self._ask("interchange_pairs", n=n)

    def make_env(self, num_envs: int = 1) -> EnvProxy:
        """Vectorized train-split environments (stepped in the parent) whose steps count against the budget."""
        handle, actual = self._ask("make_env", num_envs=int(num_envs))
        return EnvProxy(self, handle, actual)

    def _ask(self, service: str, **kwargs: Any) -> Any:
        from mirl.sealed import request

        self.meter.check()
        value, (env_steps, forward_passes) = request(
            service, env_steps=self.meter.env_steps, forward_passes=self.meter.forward_passes, **kwargs)
        self.meter.env_steps, self.meter.forward_passes = env_steps, forward_passes
        return value


class EnvProxy:
    """A train environment that lives in the parent: ``reset`` and ``step`` as gymnasium's vector API."""

    def __init__(self, view: WorkerView, handle: int, num_envs: int):
        self._view = view
        self._handle = handle
        self.num_envs = num_envs

    def reset(self, **kwargs: Any) -> tuple[Any, Any]:
        return self._view._ask("env_reset", handle=self._handle, **kwargs)

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, Any]:
        return self._view._ask("env_step", handle=self._handle, actions=np.asarray(actions))

    def close(self) -> None:
        pass  # the parent closes its environments when the run ends


def warm_up() -> None:
    """What the sealed template runs once before it forks workers: torch's first optimizer step imports ~800
    modules (torch._dynamo, sympy: ~2 s), which every forked worker would otherwise pay again. On one thread: a
    process forked after torch's thread pool has started hangs the first time it runs a parallel op."""
    import torch

    torch.set_num_threads(1)  # each worker sets the parent's count (run_method), starting its own pool
    weights = torch.zeros(4, 2, requires_grad=True)
    x, y = torch.ones(3, 4), torch.zeros(3, dtype=torch.long)
    for optimizer in (torch.optim.Adam([weights], lr=0.1),  # what mirl's probes and DAS use
                      torch.optim.LBFGS([weights], max_iter=2, line_search_fn="strong_wolfe")):
        def loss() -> torch.Tensor:
            optimizer.zero_grad()
            value = torch.nn.functional.cross_entropy(x @ weights, y)
            value.backward()
            return value

        optimizer.step(loss)


def run_method(method: Any, spec: TaskSpec, seed: int, agent: HookedAgent, agents: dict[str, HookedAgent],
               threads: int) -> dict:
    """In the worker: ``method.solve`` on a WorkerView; the answer and the compute counts it reports. ``threads``
    is the parent's torch thread count: another count can change a float reduction's last bits."""
    import torch

    torch.set_num_threads(threads)
    view = WorkerView(spec, seed, agent, agents)
    view.meter.started = time.perf_counter()
    answer = method.solve(view)
    return {"answer": answer, "env_steps": view.meter.env_steps, "forward_passes": view.meter.forward_passes}


class ServedView:
    """The parent's side: ``serve(name, kwargs)`` answers a worker's requests from ``view`` (a TaskView the
    parent built for the same task and seed). ``spent`` is what the services counted on the method's behalf,
    measured here rather than reported; ``close()`` ends the environments it made."""

    def __init__(self, view: TaskView):
        self.view = view
        self.envs: list[Any] = []
        self.spent = {"env_steps": 0, "forward_passes": 0}

    def serve(self, name: str, kwargs: dict[str, Any]) -> Any:
        meter = self.view.meter
        meter.env_steps, meter.forward_passes = int(kwargs.pop("env_steps")), int(kwargs.pop("forward_passes"))
        before = meter.env_steps, meter.forward_passes
        try:
            value = self._services().get(name, self._unknown(name))(**kwargs)
        finally:  # a call that went over the budget counts too, as the in-process meter counts it
            self.spent["env_steps"] += meter.env_steps - before[0]
            self.spent["forward_passes"] += meter.forward_passes - before[1]
        return value, (meter.env_steps, meter.forward_passes)

    def _services(self) -> dict[str, Callable[..., Any]]:
        view = self.view
        return {"train_data": view.train_data, "steering_pairs": view.steering_pairs,
                "interchange_pairs": view.interchange_pairs, "make_env": self._make_env,
                "env_reset": self._env_reset, "env_step": self._env_step}

    @staticmethod
    def _unknown(name: str) -> Callable[..., Any]:
        def refuse(**_: Any) -> Any:
            raise MirlError(f"a sealed view offers no {name!r}; use train_data, steering_pairs, interchange_pairs "
                            "or make_env")
        return refuse

    def _make_env(self, num_envs: int) -> tuple[int, int]:
        env = self.view.make_env(num_envs)
        self.envs.append(env)
        return len(self.envs) - 1, int(getattr(env, "num_envs", num_envs))

    def _env(self, handle: Any) -> Any:
        if not isinstance(handle, int) or not 0 <= handle < len(self.envs):
            raise MirlError(f"no environment {handle!r} was made in this run")
        return self.envs[handle]

    def _env_reset(self, handle: int, **kwargs: Any) -> Any:
        return self._env(handle).reset(**kwargs)

    def _env_step(self, handle: int, actions: np.ndarray) -> Any:
        return self._env(handle).step(actions)

    def close(self) -> None:
        for env in self.envs:
            close = getattr(env, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 — closing is best effort; the run's outcome is already known
                    pass
