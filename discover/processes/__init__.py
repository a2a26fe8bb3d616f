"""Process slots: the textbook function, a neural network or a closed-form equation."""

from discover.processes.base import OutputRange, Process
from discover.processes.compile import ExpressionModule
from discover.processes.neural import Neural
from discover.processes.physical import Physical
from discover.processes.symbolic import Symbolic

__all__ = ["ExpressionModule", "Neural", "OutputRange", "Physical", "Process", "Symbolic"]
