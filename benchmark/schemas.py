"""The data contract at mirl's boundaries: task specs, method info, the four answer kinds and results.

All models forbid unknown fields, so a typo in an answer or a spec fails loudly instead of being ignored.
Arrays inside answers are held as float64 NumPy arrays (converted from lists, NumPy or torch on the way in)
and written out as nested lists, so answers stay cheap to use and still round-trip through JSON.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

TASK_ID_RE = re.compile(r"^(?P<family>[a-z][a-z0-9_]*)/(?P<name>[a-z][a-z0-9-]*?)-v(?P<version>[1-9][0-9]*)$")


def parse_task_id(task_id: str) -> tuple[str, str, int]:
    """Split ``family/name-vN`` into (family, name, N); the one place task ids are parsed."""
    match = TASK_ID_RE.match(task_id)
    if match is None:
        raise ValueError(f"task id {task_id!r} is not of the form family/name-vN (e.g. smoke/goal-readout-v1)")
    return match["family"], match["name"], int(match["version"])


def superseded(task_ids: list[str]) -> dict[str, str]:
    """Each id among ``task_ids`` whose task also appears at a later version, mapped to the latest one's id. Ids
    that are not ``family/name-vN`` are left out."""
    latest: dict[tuple[str, str], tuple[int, str]] = {}
    parsed = {}
    for task_id in task_ids:
        if TASK_ID_RE.match(task_id) is None:
            continue
        family, name, version = parse_task_id(task_id)
        parsed[task_id] = (family, name), version
        latest[family, name] = max(latest.get((family, name), (version, task_id)), (version, task_id))
    return {task_id: latest[key][1] for task_id, (key, version) in parsed.items() if version < latest[key][0]}


def _to_float_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; torch itself is not imported here
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected an array of numbers ({exc})") from None
    if array.dtype == object:
        raise ValueError("expected a rectangular array of numbers")
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"contains {bad} NaN or infinite value(s); answers must be finite")
    return array


Array = Annotated[
    np.ndarray,
    BeforeValidator(_to_float_array),
    PlainSerializer(lambda a: a.tolist(), return_type=list),
    WithJsonSchema({"type": "array", "description": "nested lists of finite floats"}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


# ----------------------------------------------------------------------------------------------------
# Task specs


class MetricSpec(_Model):
    name: str = Field(description="Metric name, a key of Result.metrics")
    higher_is_better: bool = Field(description="Direction of the metric, declared once here")
    description: str = Field(default="", description="What the metric measures and how")


class Budget(_Model):
    """Compute a method may spend on one task; exceeding any part fails the run."""

    env_steps: int = Field(ge=0, description="Environment steps (summed over vectorized envs)")
    forward_passes: int = Field(ge=0, description="Agent forward passes, counted per observation in a batch")
    wall_seconds: float = Field(gt=0, description="Wall-clock seconds for the method's solve()")
    memory_gib: float = Field(default=6.0, gt=0, description="Memory cap of the method's process in GiB "
                              "(RLIMIT_DATA: heap and anonymous maps, not mapped files such as rollout blocks; set in "
                              "the sealed worker before solve() runs; none on the --in-process path)")


class AgentRef(_Model):
    id: str = Field(description="Agent id, e.g. smoke-ppo")
    checkpoint: str = Field(description="Checkpoint file name inside the task family's folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the checkpoint file")
    card: str = Field(description="Agent card file name inside the task family's folder")


class Normalization(_Model):
    """Anchors for the normalised score: floor → 0, ceiling → 1."""

    floor: float | None = Field(
        description="Score of the trivial floor (e.g. chance); None when the scorer measures it per run"
    )
    ceiling: float | None = Field(
        description="Score of an oracle or the reference; None when the scorer measures it per run"
    )
    floor_source: str = Field(description="What the floor is (chance, no intervention, ...)")
    ceiling_source: str = Field(description="What the ceiling is")


class TaskSpec(_Model):
    id: str = Field(description="Task id family/name-vN; bump N for any change that can move a score")
    title: str
    question: str = Field(description="The interpretability question the task asks, in one sentence")
    description: str = Field(default="")
    answer_kind: Literal["readout", "unit_scores", "intervention", "prediction", "agent_predictions"]
    agent: AgentRef
    hook_points: dict[str, list[int]] = Field(
        description="Hook points a method may use, with per-example activation shapes (no batch dim)"
    )
    target: str = Field(
        description="The variable, unit set or behaviour the answer is about; for readout and prediction tasks, "
        "the key of that label in train_data().labels"
    )
    offers: list[Literal["steering_pairs", "interchange_pairs"]] = Field(
        default_factory=list,
        description="Optional parts of the view this task provides: 'steering_pairs' (view.steering_pairs(n): train "
        "observations without and with the feature an intervention should induce); 'interchange_pairs' "
        "(view.interchange_pairs(n): train (base, source, counterfactual) observations for the task's causal variable)",
    )
    control_target: str | None = Field(
        default=None,
        description="Readout tasks with a control task (Hewitt & Liang 2019): the train_data label of a control "
        "variable with the target's label space, assigned by a random function of a nuisance property; the runner "
        "fits the method a second time with it as the target and reports selectivity = score − control score",
    )
    unit_level: Literal["element", "channel", "head", "neuron"] = Field(
        default="element",
        description="What a unit_scores answer scores: every activation element (shape = the hook's), every "
        "channel (shape [C], the hook's first dimension), every attention head (TransformerLens's head axis of "
        "attn.hook_q/k/v/z/pattern) or every neuron (the last dimension); see mirl.units",
    )
    output_dim: int | None = Field(
        default=None, description="Decoder outputs a readout or prediction must have (e.g. number of classes)"
    )
    primary_metric: str
    metrics: list[MetricSpec]
    normalization: Normalization
    budget: Budget
    train_size: int = Field(ge=1, description="Instances in the train split a method may use")
    test_size: int = Field(ge=1, description="Instances in the test split only the scorer sees")
    references: list[str] = Field(default_factory=list, description="Papers the task is modelled on")
    agents: list[AgentRef] = Field(
        default_factory=list,
        description="For agent_predictions tasks: the agents that are the instances (e.g. a zoo), each pinned; "
        "`agent` is one of them, whose hook points the spec declares (every agent has the same architecture)",
    )

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        parse_task_id(value)
        return value

    @model_validator(mode="after")
    def _primary_declared(self) -> TaskSpec:
        names = [m.name for m in self.metrics]
        if self.primary_metric not in names:
            raise ValueError(f"primary_metric {self.primary_metric!r} is not among metrics {names}")
        if (self.answer_kind == "agent_predictions") != bool(self.agents):
            raise ValueError("an agent_predictions task lists its agents in `agents`, and only such a task does")
        if self.answer_kind == "unit_scores":
            from mirl.units import unit_axis

            for hook, shape in self.hook_points.items():
                unit_axis(self.unit_level, hook, shape)  # a hook without such units: one line
        return self

    @property
    def family(self) -> str:
        return parse_task_id(self.id)[0]

    @property
    def version(self) -> int:
        return parse_task_id(self.id)[2]

    def metric(self, name: str) -> MetricSpec:
        return next(m for m in self.metrics if m.name == name)


# ----------------------------------------------------------------------------------------------------
# Methods

AnswerKind = Literal["readout", "unit_scores", "intervention", "prediction", "agent_predictions"]


class MethodInfo(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_.-]*$", description="Method id used on the command line")
    version: str = Field(description="Method version; recorded in every result")
    answer_kinds: list[AnswerKind] = Field(min_length=1, description="Answer kinds the method can produce")
    description: str = Field(description="One line: what the method does")
    families: list[str] | None = Field(
        default=None, description="Task families the method applies to (None: every family)"
    )
    requires: list[Literal["steering_pairs", "interchange_pairs"]] = Field(
        default_factory=list, description="Optional parts of the view the method needs (tasks list theirs in `offers`)"
    )
    stochastic: bool = Field(default=False, description="Whether results depend on the seed")
    # The method card (`mirl methods --json`): where it comes from, its settings and what it spends.
    references: list[str] = Field(default_factory=list, description="Papers the method comes from")
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Fixed settings and searched grids, as the method uses them"
    )
    compute: str = Field(default="", description="What one run spends (forward passes, env steps, fits)")


# ----------------------------------------------------------------------------------------------------
# Answers


class _LinearDecoder(_Model):
    """output = sum over hooks of flatten(activation[hook]) @ weights[hook] + bias."""

    weights: dict[str, Array] = Field(
        min_length=1, description="Per hook point: a [features, outputs] matrix over the flattened activation"
    )
    bias: Array = Field(description="[outputs]")

    @model_validator(mode="after")
    def _consistent(self) -> _LinearDecoder:
        if self.bias.ndim != 1:
            raise ValueError(f"bias must be 1-D [outputs], got shape {list(self.bias.shape)}")
        for hook, w in self.weights.items():
            if w.ndim != 2 or w.shape[1] != self.bias.shape[0]:
                raise ValueError(
                    f"weights[{hook!r}] must be [features, {self.bias.shape[0]}], got {list(w.shape)}"
                )
        return self


class Readout(_LinearDecoder):
    """A decoder from named activations to a task variable (the task says which variable and its encoding)."""

    kind: Literal["readout"] = "readout"


class Prediction(_LinearDecoder):
    """A predictor of the agent's behaviour from named activations; scored against real rollouts."""

    kind: Literal["prediction"] = "prediction"


class UnitScores(_Model):
    """A relevance score per unit: per hook point, an array with the hook's per-example shape."""

    kind: Literal["unit_scores"] = "unit_scores"
    scores: dict[str, Array] = Field(min_length=1)


class Edit(_Model):
    """One activation edit at one hook point, applied while the agent acts.

    - ``add``: activation += scale * vector (vector has the hook's shape, or [channels] to broadcast).
    - ``set``: activation[:, channels, *positions] = value (channels/positions None: all of them).
    - ``project_out``: remove the component along ``vector`` (the hook's full size, or [channels] to remove
      a channel direction at every position; normalised by mirl).
    - ``patch``: the selected units take their values from ``vector`` (a source state's activation that the
      method recorded on the train split, with the hook's shape).
    - ``mean_ablate``: the same with ``vector`` = the units' mean activation.
    - ``resample_ablate``: the selected units take the values of a random row of ``vector`` [K, *hook shape]
      (activations of K train states), drawn anew for every env at every step.

    ``steps`` restricts the edit to those steps of each episode (0 = the first); None: every step. A
    recurrent agent's internal tick is part of the hook name, so an edit at one tick names that tick's hook.
    """

    hook: str
    op: Literal["add", "set", "project_out", "patch", "mean_ablate", "resample_ablate"]
    vector: Array | None = None
    scale: float = 1.0
    channels: list[int] | None = None
    positions: list[tuple[int, ...]] | None = None
    value: float | None = None
    steps: list[int] | None = None
    axis: int = Field(default=0, ge=0, description="The per-example axis that ``channels`` index: 0 (channels), or "
                      "a task's unit axis (mirl.units.unit_axis: 1 for a head of attn.hook_z [pos, head, d_head])")

    @model_validator(mode="after")
    def _operands(self) -> Edit:
        if self.op != "set" and self.vector is None:
            raise ValueError(f"op {self.op!r} needs a vector")
        if self.op == "set" and self.value is None:
            raise ValueError("op 'set' needs a value")
        if self.op == "project_out" and self.vector is not None and not np.any(self.vector):
            raise ValueError("op 'project_out' needs a non-zero vector")
        if not math.isfinite(self.scale) or (self.value is not None and not math.isfinite(self.value)):
            raise ValueError("scale and value must be finite")
        if self.steps is not None and any(step < 0 for step in self.steps):
            raise ValueError("steps must be >= 0")
        if self.positions is not None and self.axis != 0:
            raise ValueError("positions select along the spatial axes after axis 0; with another axis, give channels only")
        return self


class Intervention(_Model):
    """Activation edits applied while the agent acts; scored by rollouts in the environment."""

    kind: Literal["intervention"] = "intervention"
    edits: list[Edit] = Field(min_length=1)


class AgentPredictions(_Model):
    """One predicted number per agent of the task's ``agents`` (the instances are agents, not states: e.g. how
    often each agent of a zoo will misgeneralise), keyed by agent id; scored against the agents' rollouts."""

    kind: Literal["agent_predictions"] = "agent_predictions"
    values: dict[str, float] = Field(min_length=1)

    @model_validator(mode="after")
    def _finite(self) -> AgentPredictions:
        bad = sorted(k for k, v in self.values.items() if not math.isfinite(v))
        if bad:
            raise ValueError(f"values for {bad} are not finite")
        return self


Answer = Annotated[Union[Readout, UnitScores, Intervention, Prediction, AgentPredictions],
                   Field(discriminator="kind")]
ANSWER_TYPES: dict[str, type[BaseModel]] = {
    "readout": Readout,
    "unit_scores": UnitScores,
    "intervention": Intervention,
    "prediction": Prediction,
    "agent_predictions": AgentPredictions,
}


# ----------------------------------------------------------------------------------------------------
# Results


class Compute(_Model):
    env_steps: int = Field(default=0, description="Environment steps the method used")
    forward_passes: int = Field(default=0, description="Agent forward passes the method used (per observation)")
    wall_seconds: float = Field(default=0.0, description="Wall-clock seconds of the method's solve()")
    cpu_seconds: float | None = Field(
        default=None, description="User + system CPU seconds of the method's worker process, measured by its parent "
        "(rusage; what processes it started are not counted); None in-process, where threads share the scorer's")
    self_reported: bool = Field(
        default=False, description="True where env_steps or forward_passes include counts the method's worker "
        "reported itself (its own copy of the agent), beyond what the scorer's services counted")
    scoring_seconds: float = Field(default=0.0, description="Wall-clock seconds the scorer took")


class Provenance(_Model):
    mirl_version: str
    git_commit: str | None = Field(description="Commit of the mirl checkout, when run from one")
    python: str
    platform: str
    packages: dict[str, str] = Field(description="Versions of the packages that can move a score")
    method_plugin: str | None = Field(default=None, description="Plugin (entry point) providing the method")
    task_plugin: str | None = Field(default=None, description="Plugin (entry point) providing the task")
    test_salt: Literal["public", "private"] = Field(
        description="'private' when a private salt was set (MIRL_TEST_SALT_FILE, official runs); 'public' reproduces "
        "anywhere"
    )


class Result(_Model):
    result_id: str = Field(description="Unique id (uuid4 hex)")
    task_id: str
    task_version: int
    task_family: str
    agent_id: str
    agent_sha256: str
    method: str
    method_version: str
    seed: int
    status: Literal["ok", "failed"]
    error: str | None = Field(default=None, description="Why the run failed (one line)")
    primary_metric: str
    higher_is_better: bool
    score: float | None = None
    ci: tuple[float, float] | None = Field(default=None, description="Bootstrap 95% CI of the primary score")
    normalized_score: float | None = Field(default=None, description="floor → 0, ceiling → 1")
    n: int = Field(default=0, description="Test instances behind the primary score")
    metrics: dict[str, float] = Field(default_factory=dict, description="Flat metrics of the run")
    instances: list[float] | None = Field(
        default=None, description="Per-test-instance values whose mean is the primary score, in the test split's "
        "fixed order (for paired comparisons); None where the primary score is not such a mean")
    compute: Compute
    sealed: bool | Literal["partial"] | None = Field(
        default=None, description="How solve() ran: true, in a sealed worker process of an unprivileged user of its "
        "own (mirl ran as root); 'partial', in a worker process of mirl's own user, which could read mirl's memory, "
        "environment and salt file; false, in mirl's process (--in-process, for debugging). None on results stored "
        "before mirl recorded it; results stored before 'partial' existed say true for a worker of mirl's user")
    reference: bool = Field(
        default=False, description="True for mirl's scorer-side known-answer tool (the oracle, which reads the "
        "ground truth in the scoring process by design): shown apart from the ranked rows, never ranked")
    provenance: Provenance
    created_at: str = Field(description="UTC timestamp, ISO 8601")

    @field_validator("metrics")
    @classmethod
    def _flat_finite(cls, value: dict[str, float]) -> dict[str, float]:
        for name, v in value.items():
            if not math.isfinite(v):
                raise ValueError(f"metric {name!r} is not finite ({v})")
        return value


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
