"""Differentiable-free z-buffer rendering in pure JAX for synthetic training data (work in progress)."""
