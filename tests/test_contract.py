"""mirl's contract test, parametrized over every registered method (the kit plugin authors use too)."""

import pytest

from mirl.pluginhost import get_methods
from mirl.testing import check_method


@pytest.mark.parametrize("name", get_methods().ids())
def test_method_honours_the_contract(name):
    results = check_method(get_methods().get(name))
    assert all(r.status == "ok" for r in results)
