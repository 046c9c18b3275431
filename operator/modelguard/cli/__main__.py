"""``python -m modelguard.cli``: the same as the ``modelguard`` command."""

import sys

from modelguard.cli.main import main

sys.exit(main())
