"""``python -m discover``: the ``discover`` command, also as torchrun's module
(``torchrun --nproc-per-node N -m discover run CONFIG --out DIR``)."""

import sys

from discover.cli import main

if __name__ == "__main__":
    sys.exit(main())
