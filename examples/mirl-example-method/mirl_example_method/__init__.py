"""mirl plugin: registers the `class-means` method."""

from mirl import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_methods(register):
    from .method import ClassMeans

    register(ClassMeans)
