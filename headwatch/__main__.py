"""`python -m headwatch …`: the same entry as the `headwatch` command (torchrun's `-m` needs it)."""

import sys

from headwatch.gui.app import main

sys.exit(main())
