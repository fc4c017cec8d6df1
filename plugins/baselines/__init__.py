"""Built-in baseline methods: `random` (every answer kind), `oracle` (smoke family only) and `prior`
(predictions from label frequencies alone)."""

from mirl import hookimpl


@hookimpl
def register_methods(register):
    from mirl.reference import Oracle

    from .prior import Prior
    from .random import RandomMethod

    register(RandomMethod)
    register(Oracle)
    register(Prior)
