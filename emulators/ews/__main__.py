"""`python -m emulators.ews`."""

import sys

from .cli import main

sys.exit(main())
