"""Test-wide settings: OpenMP threads wait passively (set before torch loads), as the CLI does."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
