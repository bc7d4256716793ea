"""`python -m dlm ...`: the `dlm` command without the installed script."""
import sys

from dlm.cli.main import main

sys.exit(main())
