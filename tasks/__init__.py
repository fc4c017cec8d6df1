"""mirl's built-in task families, one sub-package per family, registered through the `mirl` entry points."""
