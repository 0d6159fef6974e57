"""`python -m pullback ...`: the same command line as the `pullback` script."""
import sys

from .cli import main

sys.exit(main())
