"""Errors that mirl reports to people as one clear line: what went wrong and how to fix it."""


class MirlError(Exception):
    """A user-facing error; the CLI prints its message on one line and exits non-zero."""


class UnknownIdError(MirlError, KeyError):
    """An unknown task or method id (the message carries a "did you mean")."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateIdError(MirlError):
    """Two plugins registered the same id."""


class PluginError(MirlError):
    """A plugin could not be loaded or its hook raised."""


class InvalidAnswerError(MirlError):
    """A method returned an answer that does not fit the task (schema, hook names, shapes, values)."""


class BudgetExceededError(MirlError):
    """A method used more compute than its task allows."""


class StoreError(MirlError):
    """The local leaderboard store cannot be opened or written."""


class StoreBusyError(StoreError):
    """The store is healthy but another process held its lock too long (not a reason to move it aside)."""


def one_line(exc: BaseException) -> str:
    """A method's failure as the one line a failed Result stores: a mirl error's own message; any other
    exception named with its type and where it was raised (file:line)."""
    import traceback

    if isinstance(exc, MirlError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"method raised {type(exc).__name__}{where}: {message}".rstrip(": ")


_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """Print a one-line warning on stderr, once per process (a bench of many runs says it once)."""
    import sys

    if message not in _WARNED:
        _WARNED.add(message)
        print(f"mirl: warning: {message}", file=sys.stderr)
