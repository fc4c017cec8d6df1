"""mirl.units: the unit axis of each unit level, and pooling, shapes and indices that agree with it."""

from __future__ import annotations

import numpy as np
import pytest

from mirl.units import pool, unit_axis, unit_index, unit_shape

CONV = ("encoder.conv1.hook_out", (8, 5, 5))
Z = ("blocks.1.attn.hook_z", (12, 4, 16))  # [pos, head, d_head]
PATTERN = ("blocks.0.attn.hook_pattern", (4, 12, 12))  # [head, query, key]
MLP = ("blocks.0.mlp.hook_post", (12, 64))  # [pos, neuron]


@pytest.mark.parametrize("level,hook,axis", [
    ("element", CONV, None), ("channel", CONV, 0), ("head", Z, 1), ("head", PATTERN, 0), ("neuron", MLP, 1),
    ("head", ("blocks.0.attn.hook_q", (12, 4, 16)), 1),
    ("head", ("blocks.0.attn.hook_z@read", (4, 16)), 0), ("head", ("blocks.0.attn.hook_pattern@read", (4, 12)), 0),
])
def test_each_level_names_its_axis_and_the_scores_shape(level, hook, axis):
    name, shape = hook
    assert unit_axis(level, name, shape) == axis
    assert unit_shape(level, name, shape) == (shape if axis is None else (shape[axis],))


def test_pooling_keeps_each_unit_apart():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, *Z[1]))
    pooled = pool(z, "head", Z[0])
    assert pooled.shape == (5, 4)
    np.testing.assert_allclose(pooled[:, 2], z[:, :, 2, :].mean(axis=(1, 2)))
    np.testing.assert_allclose(pool(z, "head", Z[0], reduce="sum")[:, 2], z[:, :, 2, :].sum(axis=(1, 2)))
    conv = rng.normal(size=(3, *CONV[1]))
    # channels pool exactly as the channel methods always did (the same floats, not merely close)
    assert np.array_equal(pool(conv, "channel", CONV[0]), conv.reshape(3, 8, -1).mean(2))
    assert pool(conv, "element", CONV[0]).shape == (3, 200)


def test_a_unit_index_selects_that_unit_only():
    for level, (name, shape), unit in (("head", Z, 3), ("head", PATTERN, 1), ("neuron", MLP, 63),
                                       ("channel", CONV, 7), ("element", CONV, 57)):
        x = np.zeros((2, *shape))
        x[unit_index(level, name, shape, unit)] = 1
        per_unit = pool(x, level, name, reduce="sum")
        hit = np.flatnonzero(per_unit[0])
        assert hit.tolist() == [unit] and (per_unit[0] == per_unit[1]).all(), (level, name)


def test_hooks_without_such_units_are_one_line_errors():
    with pytest.raises(ValueError, match="blocks.0.hook_resid_post has no attention heads; head units are scored at"):
        unit_axis("head", "blocks.0.hook_resid_post", (12, 64))
    with pytest.raises(ValueError, match="unit level 'layer' is not one of"):
        unit_axis("layer", *CONV)
    with pytest.raises(IndexError, match="unit 4 is outside blocks.1.attn.hook_z's 4 heads"):
        unit_index("head", *Z, 4)
