"""Identity prior: a Gaussian mixture over identity coefficients (E_identity of Section 3.2).

    E_identity(beta) = -log p(beta),   p(beta) = sum_g gamma_g N(beta | nu_g, Sigma_g)

The default prior is ICT's own: identity coefficients are standard normal, i.e. a
one-component GMM with zero mean and identity covariance.  ICT does not publish
scan-derived identity coefficients, so there is no richer default; `fit_gmm` fits a
G-component mixture to identity vectors you have (for example from multi-view
captures) and returns a prior of the same type.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular


class GaussianMixture(NamedTuple):
    """log_weights: (G,) log gamma; means: (G, D) nu; scale_tril: (G, D, D) lower Cholesky of Sigma."""
    log_weights: jax.Array
    means: jax.Array
    scale_tril: jax.Array


def standard_normal_prior(dim: int) -> GaussianMixture:
    """ICT's N(0, I) as a one-component GMM."""
    return GaussianMixture(jnp.zeros(1), jnp.zeros((1, dim)), jnp.eye(dim)[None])


def component_log_probs(gmm: GaussianMixture, x: jax.Array) -> jax.Array:
    """log gamma_g + log N(x | nu_g, Sigma_g) for x (D,) -> (G,)."""
    d = x.shape[-1]

    def one(mean, tril):
        z = solve_triangular(tril, x - mean, lower=True)
        log_det = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(tril))))
        return -0.5 * (z @ z + log_det + d * jnp.log(2.0 * jnp.pi))

    return gmm.log_weights + jax.vmap(one)(gmm.means, gmm.scale_tril)


def gmm_log_prob(gmm: GaussianMixture, x: jax.Array) -> jax.Array:
    """log p(x), numerically stable via log-sum-exp. x: (D,) -> ()."""
    return jax.nn.logsumexp(component_log_probs(gmm, x))


def identity_energy(gmm: GaussianMixture, identity: jax.Array) -> jax.Array:
    """E_identity = -log p(beta)."""
    return -gmm_log_prob(gmm, identity)


def fit_gmm(key: jax.Array, data: jax.Array, num_components: int, num_iters: int = 100,
            reg_covar: float = 1e-3) -> GaussianMixture:
    """Expectation-maximisation for a full-covariance GMM.

    Args:
      key: PRNG key for the initial means (G distinct samples of `data`).
      data: (N, D) float32 identity vectors.
      num_components: G.
      num_iters: EM iterations (fixed count so the loop jits).
      reg_covar: added to the covariance diagonals, keeps them positive definite.
    Returns:
      The fitted GaussianMixture.
    """
    data = jnp.asarray(data, jnp.float32)
    n, d = data.shape
    if n < num_components:
        raise ValueError(f"fit_gmm: {n} data points cannot fit {num_components} components")
    init_idx = jax.random.choice(key, n, (num_components,), replace=False)
    means = data[init_idx]
    cov = jnp.cov(data.T).reshape(d, d) + reg_covar * jnp.eye(d)
    tril = jnp.broadcast_to(jnp.linalg.cholesky(cov), (num_components, d, d))
    gmm = GaussianMixture(jnp.full(num_components, -jnp.log(num_components)), means, tril)

    def step(_, gmm):
        # E-step: responsibilities r (N, G).
        logp = jax.vmap(lambda x: component_log_probs(gmm, x))(data)
        r = jnp.exp(logp - jax.nn.logsumexp(logp, axis=1, keepdims=True))
        # M-step.
        nk = r.sum(0) + 1e-10
        means = (r.T @ data) / nk[:, None]
        diff = data[None, :, :] - means[:, None, :]  # (G, N, D)
        cov = jnp.einsum("ng,gni,gnj->gij", r, diff, diff) / nk[:, None, None] + reg_covar * jnp.eye(d)
        return GaussianMixture(jnp.log(nk / n), means, jnp.linalg.cholesky(cov))

    return jax.lax.fori_loop(0, num_iters, step, gmm)
