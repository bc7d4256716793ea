"""Fitting the face model to probabilistic 2D landmarks (Section 3.2-3.3)."""
