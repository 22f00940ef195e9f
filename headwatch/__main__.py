"""`python -m headwatch …`: the same entry as the `headwatch` command (torchrun's `-m` needs it)."""

import os
import sys

try:
    from headwatch.gui.app import main

    code = main()
except KeyboardInterrupt:  # Ctrl+C while Python still loads torch (seconds): no traceback
    if os.environ.get("RANK", "0") == "0":  # under torchrun, said once
        sys.stderr.write("headwatch: interrupted\n")
    code = 130  # the shell's code for a process stopped by Ctrl+C
sys.exit(code)
