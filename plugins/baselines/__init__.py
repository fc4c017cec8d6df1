"""Built-in baseline methods: `random` (every answer kind) and `oracle` (smoke family only)."""

from mirl import hookimpl


@hookimpl
def register_methods(register):
    from .oracle import Oracle
    from .random import RandomMethod

    register(RandomMethod)
    register(Oracle)
