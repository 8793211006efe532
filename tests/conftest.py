"""Test-wide settings and fixtures."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI's training commands do, before torch loads OpenMP

import pytest  # noqa: E402


@pytest.fixture
def seeded_one_thread_torch():
    """Deterministic torch inputs on one thread: the two CPU cores are shared, and more threads
    only spin against each other."""
    import torch

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
