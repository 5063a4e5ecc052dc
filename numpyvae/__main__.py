"""`python -m numpyvae ...` runs the command line (see numpyvae/cli.py)."""
import sys

from .cli import main

sys.exit(main())
