"""Hand datasets: one sample type, readers for the public datasets' native layouts, pipelines."""
