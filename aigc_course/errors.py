"""The course's own errors: problems a user can fix, each message saying how.

The command line (:mod:`aigc_course.cli`) prints a :class:`CourseError` as one line and exits
with its ``exit_code``; any other exception is a bug and keeps its traceback. Each class also
derives from the built-in exception a caller would expect (``ValueError`` for a bad setting,
``FileNotFoundError`` for a missing file), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class CourseError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""

    exit_code = 2


class ConfigError(CourseError, ValueError):
    """A bad argument or setting (an unknown profile, a negative number of epochs, ...)."""


class DataError(CourseError, RuntimeError):
    """A data set could not be loaded: a file is damaged, or no source is usable."""


class IntegrityError(DataError):
    """A file exists but is not one of the known, intact releases."""


class NoSourceError(DataError):
    """No source could provide the data set (offline, nothing on disk)."""


class CheckpointError(CourseError, ValueError):
    """A checkpoint is damaged, in an unknown format, or does not fit the model (left untouched)."""


class NotFoundError(CourseError, FileNotFoundError):
    """A file, folder or run the command needs does not exist (e.g. nothing to resume)."""


class Diverged(CourseError, RuntimeError):
    """Training stopped because a loss or weight became NaN or infinite."""

    exit_code = 1


__all__ = [
    "CourseError",
    "ConfigError",
    "DataError",
    "IntegrityError",
    "NoSourceError",
    "CheckpointError",
    "NotFoundError",
    "Diverged",
]
