"""`python -m jobs ...`: the same command as the `jobs` console script."""

import sys

from .ops.cli import main

sys.exit(main())
