"""The synthetic hand generator: handpose's embedded default dataset."""
