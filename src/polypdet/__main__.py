"""``python -m polypdet`` is the ``polypdet`` command."""

import sys

from polypdet.cli.main import main

sys.exit(main())
