"""``python -m baseline.cli``: the same entry point as the ``fleet-baseline`` console script."""

import sys

from baseline.cli import main

sys.exit(main())
