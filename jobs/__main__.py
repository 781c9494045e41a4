"""`python -m jobs ...`: the same command as the `jobs` console script."""

import sys

from .cli.main import main

sys.exit(main())
