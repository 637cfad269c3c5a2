import sys

from soundlab.cli import main

sys.exit(main())
