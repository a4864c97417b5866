"""``python -m layerkit`` runs the command line."""

import sys

from layerkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
