"""Makes tests/ importable by every suite (the shared logfmt reader)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
