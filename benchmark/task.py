"""The task contract: a spec, a budgeted view of the train split for methods, and a scorer on the test split.

Information barrier: ``Task.view(seed)`` hands a method the train split only; the test split is derived
inside ``Task.score`` from the seed and the salt (see ``mirl.seeding.test_seed``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from mirl.errors import BudgetExceededError, InvalidAnswerError, MirlError
from mirl.schemas import AgentPredictions, AgentRef, Budget, Edit, Intervention, TaskSpec, UnitScores, _LinearDecoder
from mirl.scoring import ScoreReport
from mirl.seeding import seed_everything, train_seed
from mirl.units import unit_shape

if TYPE_CHECKING:
    import torch

    from mirl.hooked import HookedAgent


class ComputeMeter:
    """Counts the compute a method spends through its view and enforces the task's budget."""

    def __init__(self, budget: Budget):
        self.budget = budget
        self.env_steps = 0
        self.forward_passes = 0
        self.started = time.perf_counter()

    @property
    def wall_seconds(self) -> float:
        return time.perf_counter() - self.started

    def add(self, env_steps: int = 0, forward_passes: int = 0) -> None:
        self.env_steps += env_steps
        self.forward_passes += forward_passes
        self.check()

    def check(self) -> None:
        b = self.budget
        if self.env_steps > b.env_steps:
            raise BudgetExceededError(f"budget exceeded: {self.env_steps} env steps > {b.env_steps} allowed")
        if self.forward_passes > b.forward_passes:
            raise BudgetExceededError(
                f"budget exceeded: {self.forward_passes} agent forward passes > {b.forward_passes} allowed"
            )
        if self.wall_seconds > b.wall_seconds:
            raise BudgetExceededError(
                f"budget exceeded: {self.wall_seconds:.1f} s wall time > {b.wall_seconds:g} s allowed"
            )


class BudgetedAgent:
    """The agent as a method sees it: every forward pass is counted (per observation in the batch).

    Gradients flow as usual, so attribution methods can call ``backward`` on the outputs.
    """

    def __init__(self, agent: HookedAgent, meter: ComputeMeter, allowed_hooks: dict[str, list[int]]):
        self._agent = agent
        self._meter = meter
        self.allowed_hooks = allowed_hooks

    def _count(self, obs: Any) -> None:
        self._meter.add(forward_passes=int(obs.shape[0]))

    def __call__(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._count(obs)
        return self._agent(obs)

    def run_with_cache(self, obs: torch.Tensor, names: Any = None, detach: bool = True, **forward_kwargs):
        self._count(obs)
        return self._agent.run_with_cache(obs, names=names, detach=detach, **forward_kwargs)

    @property
    def recurrent(self) -> bool:
        return self._agent.recurrent

    def initial_state(self, batch_size: int):
        return self._agent.initial_state(batch_size)

    def act(self, obs: torch.Tensor, state: Any = None, starts: Any = None):
        """One counted environment step of the agent (see ``HookedAgent.act``); what rollouts call."""
        self._count(obs)
        return self._agent.act(obs, state, starts)

    def hooks(self, fwd=()):
        return self._agent.hooks(fwd)

    def hook_points(self) -> dict[str, tuple[int, ...]]:
        return self._agent.hook_points()

    def parameters(self):
        return self._agent.parameters()


@dataclass
class TrainData:
    """Labelled train-split states: observations, exact labels and activations at the requested hooks."""

    obs: np.ndarray
    labels: dict[str, np.ndarray]
    activations: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.obs)


class View:
    """What every view offers a method from the task's spec (``TaskView`` in the scoring process, ``WorkerView``
    in a sealed worker): ``agents``, ``answer_kind``, ``hook_points``."""

    spec: TaskSpec
    _agents: dict[str, BudgetedAgent] | None = None

    @property
    def agents(self) -> dict[str, BudgetedAgent]:
        """An agent_predictions task's instances: every agent of ``spec.agents`` by id, sha256-checked, their
        forward passes counted against the one budget (loaded on first use)."""
        if not self.spec.agents:
            raise MirlError(f"{self.spec.id} is about one agent (view.agent); only agent_predictions tasks "
                            "have view.agents")
        if self._agents is None:
            self._agents = self._load_agents()
        return self._agents

    def _load_agents(self) -> dict[str, BudgetedAgent]:
        """Each view kind loads them its own way (TaskView from the Task's checkpoints, WorkerView from the copies
        the worker was sent)."""
        raise NotImplementedError

    @property
    def answer_kind(self) -> str:
        return self.spec.answer_kind

    @property
    def hook_points(self) -> dict[str, list[int]]:
        return dict(self.spec.hook_points)


class TaskView(View):
    """What a method may touch: the spec, the train split, a budgeted agent and budgeted environments."""

    def __init__(self, task: Task, seed: int, spec: TaskSpec | None = None):
        self.spec: TaskSpec = task.spec if spec is None else spec
        self.seed = seed
        self.rng = seed_everything(seed)
        self.meter = ComputeMeter(task.spec.budget)
        self._task = task
        self.train_seed = train_seed(seed)
        """What every train-side draw of the task derives from (``derive_seed(view.train_seed, "states")``): the
        run's seed, never the salted test seed."""
        self.agent = BudgetedAgent(task.load_agent(), self.meter, task.spec.hook_points)

    def _load_agents(self) -> dict[str, BudgetedAgent]:
        return {ref.id: BudgetedAgent(self._task.load_agent(ref), self.meter, self.spec.hook_points)
                for ref in self.spec.agents}

    def train_data(self, n: int | None = None, hooks: list[str] | None = None) -> TrainData:
        """``n`` labelled train-split states (default: the whole split) with activations at ``hooks``."""
        n = self.spec.train_size if n is None else n
        if not 1 <= n <= self.spec.train_size:
            raise MirlError(f"train_data(n={n}): n must be between 1 and {self.spec.train_size}")
        hooks = list(self.spec.hook_points) if hooks is None else list(hooks)
        unknown = [h for h in hooks if h not in self.spec.hook_points]
        if unknown:
            raise MirlError(f"hook point(s) {unknown} are not offered by {self.spec.id}; use {list(self.spec.hook_points)}")
        self.meter.check()
        return self._task.train_data(self, n, hooks)

    def steering_pairs(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` train-split observations without and with the task's feature (see ``Task.steering_pairs``)."""
        n = self.spec.train_size if n is None else n
        if not 1 <= n <= self.spec.train_size:
            raise MirlError(f"steering_pairs(n={n}): n must be between 1 and {self.spec.train_size}")
        self.meter.check()
        return self._task.steering_pairs(self, n)

    def interchange_pairs(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` train-split (base, source, counterfactual) observations (see ``Task.interchange_pairs``)."""
        n = self.spec.train_size if n is None else n
        if not 1 <= n <= self.spec.train_size:
            raise MirlError(f"interchange_pairs(n={n}): n must be between 1 and {self.spec.train_size}")
        self.meter.check()
        return self._task.interchange_pairs(self, n)

    def make_env(self, num_envs: int = 1) -> Any:
        """Vectorized train-split environments whose steps count against the budget."""
        self.meter.check()
        return self._task.make_train_env(self, num_envs)


# (task id, agents' sha256s, seed, test size) → what a scorer computed without the answer (Task.answer_free)
_ANSWER_FREE: dict[tuple, Any] = {}


class Task:
    """Base class of tasks. A family subclasses it, sets ``spec`` and implements the hooks below."""

    spec: TaskSpec
    folder: Path  # the task family's folder, holding checkpoints and cards

    # -- to implement --------------------------------------------------------------------------------
    def build_agent(self) -> HookedAgent:
        """Construct the (untrained) agent module that the checkpoint's state dict loads into."""
        raise NotImplementedError

    def train_data(self, view: TaskView, n: int, hooks: list[str]) -> TrainData:
        raise NotImplementedError(f"{self.spec.id} offers no labelled train data")

    def make_train_env(self, view: TaskView, num_envs: int) -> Any:
        raise NotImplementedError(f"{self.spec.id} offers no train environments")

    def score(self, answer: Any, seed: int) -> ScoreReport:
        raise NotImplementedError

    def steering_pairs(self, view: TaskView, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Intervention tasks: ``n`` train-split observations without and with the feature the edit should
        induce (the same states, the feature written into the observation), for contrast methods such as the
        mean-difference ("cheese") vector. Recurrent agents' pairs are first observations of episodes."""
        raise MirlError(f"{self.spec.id} defines no steering pairs (observations without and with its feature)")

    def interchange_pairs(self, view: TaskView, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Causal-variable tasks: ``n`` train-split triples of observations — a base, a source whose value of the
        task's variable differs, and the counterfactual (the base with the source's value) — for interchange
        methods (DAS, patching scans): patching the variable from source into base should make the agent act
        as on the counterfactual."""
        raise MirlError(f"{self.spec.id} defines no interchange pairs (base, source, counterfactual observations)")

    def oracle_answer(self, view: TaskView) -> Any:
        raise MirlError(f"{self.spec.id} has no oracle: only tasks with planted ground truth provide one")

    # -- provided ------------------------------------------------------------------------------------
    def answer_free(self, seed: int, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per process for this task's pinned agent(s), ``seed`` and test size: for what a
        scorer needs that does not depend on the answer (test levels, the unedited agent's play, unit means), so
        that a bench scoring many methods pays it once. The value is shared between calls: never mutate it."""
        agents = tuple(ref.sha256 for ref in self.spec.agents) or (self.spec.agent.sha256,)
        key = (self.spec.id, agents, seed, self.spec.test_size)
        if key not in _ANSWER_FREE:
            _ANSWER_FREE[key] = compute()
        return _ANSWER_FREE[key]

    def view(self, seed: int) -> TaskView:
        return TaskView(self, seed)

    def control_view(self, seed: int) -> TaskView:
        """The view of the control task: the same train split, with ``spec.control_target`` as the target."""
        if self.spec.control_target is None:
            raise MirlError(f"{self.spec.id} has no control task")
        return TaskView(self, seed, self.spec.model_copy(update={"target": self.spec.control_target}))

    def score_control(self, answer: Any, seed: int) -> ScoreReport:
        """Score an answer fitted to the control target on the control labels of the test split."""
        raise NotImplementedError(f"{self.spec.id} declares a control target but no control scorer")

    @property
    def checkpoint_path(self) -> Path:
        return self.agent_checkpoint_path(self.spec.agent)

    def agent_checkpoint_path(self, ref: AgentRef) -> Path:
        """Where ``ref``'s checkpoint lives: its path relative to the family folder (e.g. ``zoo/x.pt``)."""
        return self.folder / ref.checkpoint

    def verify_agent(self, ref: AgentRef | None = None) -> None:
        """Refuse to run on a checkpoint whose sha256 differs from the one in the spec."""
        ref = ref or self.spec.agent
        path = self.agent_checkpoint_path(ref)
        if not path.exists():
            raise MirlError(f"agent checkpoint {path} is missing; reinstall mirl or run `mirl agents train`")
        from mirl.agents import sha256_file

        digest = sha256_file(path)
        if digest != ref.sha256:
            raise MirlError(
                f"agent checkpoint {path.name} has sha256 {digest[:12]}…, but {self.spec.id} pins "
                f"{ref.sha256[:12]}…; restore the shipped file or bump the task version"
            )

    def load_agent(self, ref: AgentRef | None = None) -> HookedAgent:
        """The task's agent (or one of ``spec.agents``), verified against its pinned sha256, frozen."""
        import torch

        ref = ref or self.spec.agent
        self.verify_agent(ref)
        agent = self.build_agent()
        agent.load_state_dict(torch.load(self.agent_checkpoint_path(ref), map_location="cpu", weights_only=True))
        agent.eval()
        for p in agent.parameters():
            p.requires_grad_(False)
        self._check_hook_points(agent.hook_points())
        return agent

    def _check_hook_points(self, actual: dict[str, tuple[int, ...]]) -> None:
        """The spec's hook points (what answers are validated against) must exist on the agent as declared."""
        for name, shape in self.spec.hook_points.items():
            if name not in actual:
                raise MirlError(f"{self.spec.id} declares hook point {name!r}, which its agent lacks; fix the task spec")
            if tuple(shape) != tuple(actual[name]):
                raise MirlError(
                    f"{self.spec.id} declares {name} with shape {list(shape)}, but the agent's is "
                    f"{list(actual[name])}; fix the task spec"
                )

    def validate_answer(self, answer: Any) -> Any:
        """Check the answer fits this task: kind, hook names, shapes, index ranges. Returns the parsed answer."""
        return validate_answer(self.spec, answer)


# ----------------------------------------------------------------------------------------------------
# Answer validation against a task's hook points


def _parse(spec: TaskSpec, answer: Any) -> Any:
    from pydantic import ValidationError

    from mirl.schemas import ANSWER_TYPES

    model = ANSWER_TYPES[spec.answer_kind]
    if isinstance(answer, model):
        return answer
    if hasattr(answer, "kind") and getattr(answer, "kind") != spec.answer_kind:
        raise InvalidAnswerError(
            f"{spec.id} asks for a {spec.answer_kind} answer, got {getattr(answer, 'kind')}"
        )
    payload = answer.model_dump() if hasattr(answer, "model_dump") else answer
    if not isinstance(payload, dict):
        raise InvalidAnswerError(f"{spec.id} asks for a {spec.answer_kind} answer, got {type(answer).__name__}")
    if payload.get("kind", spec.answer_kind) != spec.answer_kind:
        raise InvalidAnswerError(f"{spec.id} asks for a {spec.answer_kind} answer, got {payload['kind']}")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise InvalidAnswerError(f"invalid {spec.answer_kind} answer: {where}: {first['msg']}") from None


def _check_hook(spec: TaskSpec, hook: str) -> tuple[int, ...]:
    if hook not in spec.hook_points:
        import difflib

        close = difflib.get_close_matches(hook, list(spec.hook_points), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidAnswerError(
            f"unknown hook point {hook!r}{hint}; {spec.id} offers {sorted(spec.hook_points)}"
        )
    return tuple(spec.hook_points[hook])


def validate_answer(spec: TaskSpec, answer: Any) -> Any:
    parsed = _parse(spec, answer)
    if isinstance(parsed, _LinearDecoder):
        for hook, w in parsed.weights.items():
            shape = _check_hook(spec, hook)
            features = int(np.prod(shape))
            if w.shape[0] != features:
                raise InvalidAnswerError(
                    f"weights[{hook!r}] has {w.shape[0]} rows, but {hook} has {features} features {list(shape)}"
                )
        expected = spec.output_dim
        if expected is not None and parsed.bias.shape[0] != expected:
            raise InvalidAnswerError(f"{spec.id} needs {expected} decoder outputs, got {parsed.bias.shape[0]}")
    elif isinstance(parsed, UnitScores):
        missing = sorted(set(spec.hook_points) - set(parsed.scores))
        if missing:
            raise InvalidAnswerError(f"unit scores are missing hook point(s) {missing}")
        for hook, s in parsed.scores.items():
            shape = unit_shape(spec.unit_level, hook, _check_hook(spec, hook))
            if tuple(s.shape) != shape:
                per = f" (one score per {spec.unit_level})" if spec.unit_level != "element" else ""
                raise InvalidAnswerError(f"scores[{hook!r}] has shape {list(s.shape)}, expected {list(shape)}{per}")
    elif isinstance(parsed, Intervention):
        for i, edit in enumerate(parsed.edits):
            _check_edit(spec, i, edit)
    elif isinstance(parsed, AgentPredictions):
        expected = [ref.id for ref in spec.agents]
        missing = [a for a in expected if a not in parsed.values]
        unknown = sorted(set(parsed.values) - set(expected))
        if missing or unknown:
            raise InvalidAnswerError(f"agent predictions must cover exactly {spec.id}'s agents: missing {missing}, "
                                     f"unknown {unknown}")
    return parsed


def _check_edit(spec: TaskSpec, i: int, edit: Edit) -> None:
    shape = _check_hook(spec, edit.hook)
    where = f"edits[{i}] at {edit.hook}"
    if edit.vector is not None:
        v = edit.vector
        per_channel = v.ndim == 1 and v.shape[0] == shape[0]
        fits = {
            "add": tuple(v.shape) == shape or per_channel,
            "project_out": v.size == int(np.prod(shape)) or per_channel,
            "patch": tuple(v.shape) == shape,
            "mean_ablate": tuple(v.shape) == shape,
            "resample_ablate": v.ndim == len(shape) + 1 and tuple(v.shape[1:]) == shape and v.shape[0] > 0,
        }[edit.op]
        if not fits:
            expected = f"[K, {', '.join(map(str, shape))}]" if edit.op == "resample_ablate" else list(shape)
            raise InvalidAnswerError(f"{where}: vector shape {list(v.shape)} does not fit {expected} for op {edit.op!r}")
    if edit.axis >= len(shape):
        raise InvalidAnswerError(f"{where}: axis {edit.axis} is outside {edit.hook}'s {len(shape)} axes")
    if edit.channels is not None:
        size = shape[edit.axis]
        bad = [c for c in edit.channels if not 0 <= c < size]
        if bad:
            raise InvalidAnswerError(f"{where}: channel(s) {bad} out of range 0..{size - 1}" if edit.axis == 0 else
                                     f"{where}: unit(s) {bad} out of range 0..{size - 1} on axis {edit.axis}")
    if edit.positions is not None:
        spatial = shape[1:]
        for pos in edit.positions:
            if len(pos) != len(spatial) or not all(0 <= p < s for p, s in zip(pos, spatial)):
                raise InvalidAnswerError(f"{where}: position {list(pos)} does not fit spatial shape {list(spatial)}")
