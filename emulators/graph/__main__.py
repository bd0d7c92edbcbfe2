"""`python -m emulators.graph`."""

import sys

from .cli import main

sys.exit(main())
