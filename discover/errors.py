"""The one base class of every error that a user can fix (bad config, data, run directory).

The ``discover`` command prints such an error as one line and exits with code 2; any other
exception is an internal error (one line plus where the full log is).
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem in what the user gave (config, data, run directory, checkpoint); the
    message names the key, file, variable, site or time it concerns."""
