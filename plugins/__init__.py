"""mirl's built-in methods (baselines), registered through the same entry points as third-party plugins."""
