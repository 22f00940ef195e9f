"""`python -m headwatch …`: the same entry as the `headwatch` command (torchrun's `-m` needs it)."""

import sys

try:
    from headwatch.gui.app import main
except KeyboardInterrupt:  # at the very start; main says why it stops after that
    sys.exit(130)
sys.exit(main())
