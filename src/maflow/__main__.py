"""``python -m maflow`` (also under torchrun) runs the command line."""

import sys

from maflow.cli import main

if __name__ == "__main__":
    sys.exit(main())
