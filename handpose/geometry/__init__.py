"""Camera geometry: projection, crops that keep 2D, 3D and K consistent, flips, canonical frames."""
