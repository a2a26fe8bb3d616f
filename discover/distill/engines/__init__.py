"""Symbolic-regression engines behind one interface (see :mod:`.base`); importing this
package registers them."""

from discover.distill.engines import combined, operon, powerlaw, pysr, rational, sparse
from discover.distill.engines.base import ENGINES, Engine, SearchOptions, get_engine, register

__all__ = [
    "ENGINES",
    "Engine",
    "SearchOptions",
    "combined",
    "get_engine",
    "operon",
    "powerlaw",
    "pysr",
    "rational",
    "register",
    "sparse",
]
