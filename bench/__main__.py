"""`python -m bench [--requests N] [--concurrency C] [--out FILE] [--profile FILE]`: see bench/run.py."""

import sys

from bench.run import main

sys.exit(main())
