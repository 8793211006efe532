"""Training with Lightning: configs, the module, checkpoints."""
