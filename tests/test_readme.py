"""The README's plugin example is real code: it runs and passes the method contract."""

import re
import types
from pathlib import Path

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
