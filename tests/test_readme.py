"""The README's plugin example is real code: it runs and passes the method contract (which catches a method
that is not deterministic)."""

import re
import types
from pathlib import Path

import numpy as np
import pytest

from mirl.method import Method
from mirl.schemas import MethodInfo, Readout
from mirl.testing import check_method

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_method_example_passes_the_contract(mirl_plugin):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    source = next(b for b in blocks if "class RidgeProbe" in b)
    module = types.ModuleType("readme_example")
    exec(compile(source, "README.md", "exec"), module.__dict__)
    mirl_plugin(module, name="ridge_probe")
    [result] = check_method(module.RidgeProbe)
    assert result.task_id == "smoke/goal-readout-v1" and result.normalized_score > 0.9


def test_the_contract_catches_a_method_that_draws_unseeded_randomness():
    class Unseeded(Method):
        info = MethodInfo(name="unseeded", version="0", answer_kinds=["readout"], description="random weights")
        def solve(self, view):
            hook, shape = next(iter(view.hook_points.items()))
            weights = np.random.default_rng().normal(size=(int(np.prod(shape)), view.spec.output_dim))  # OS entropy
            return Readout(weights={hook: weights}, bias=np.zeros(view.spec.output_dim))

    with pytest.raises(AssertionError, match="is not deterministic for seed 0.*view.rng"):
        check_method(Unseeded, task_ids=["smoke/goal-readout-v1"])
