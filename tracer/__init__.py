"""From Python functions on NumPy values to IR."""
