"""The method contract: a plugin class with ``info`` and ``solve(view) -> answer``."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from mirl.schemas import MethodInfo

if TYPE_CHECKING:
    from mirl.task import TaskView


class Method:
    """Base class of interpretability methods.

    Subclasses set ``info`` and implement ``solve``. A method sees a task only through its ``TaskView``
    (train split, budgeted agent and environments) and returns one answer of a kind it declares: a
    ``mirl.schemas`` model (Readout, UnitScores, Intervention, Prediction) or a dict that validates as one.
    mirl builds a fresh instance for every run, so instance state never leaks between tasks or seeds.
    """

    info: ClassVar[MethodInfo]

    def solve(self, view: TaskView) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement solve(view)")

    @classmethod
    def supports(cls, answer_kind: str, family: str, offers: list[str] | tuple = ()) -> bool:
        """Can the method answer a task of this kind and family, which offers these optional view parts?"""
        families = cls.info.families
        return (answer_kind in cls.info.answer_kinds and (families is None or family in families)
                and set(cls.info.requires) <= set(offers))


def instantiate(method: type[Method] | Method) -> Method:
    """Registries hold classes or instances; every run gets a fresh instance."""
    return method() if isinstance(method, type) else copy.deepcopy(method)
