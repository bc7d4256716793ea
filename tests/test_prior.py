import jax
import jax.numpy as jnp
import numpy as np

import dlm
from dlm.core import prior


def brute_force_log_prob(weights, means, covs, x):
    total = 0.0
    d = len(x)
    for w, m, c in zip(weights, means, covs):
        diff = x - m
        quad = diff @ np.linalg.inv(c) @ diff
        total += w * np.exp(-0.5 * quad) / np.sqrt((2 * np.pi) ** d * np.linalg.det(c))
    return np.log(total)


def test_gmm_log_prob_matches_brute_force_g3():
    rng = np.random.default_rng(0)
    d = 5
    weights = np.array([0.2, 0.5, 0.3])
    means = rng.normal(size=(3, d))
    a = rng.normal(size=(3, d, d))
    covs = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(d)
    gmm = prior.GaussianMixture(jnp.log(weights), jnp.asarray(means, jnp.float32),
                                jnp.asarray(np.linalg.cholesky(covs), jnp.float32))
    for _ in range(5):
        x = rng.normal(size=d)
        np.testing.assert_allclose(float(prior.gmm_log_prob(gmm, jnp.asarray(x, jnp.float32))),
                                   brute_force_log_prob(weights, means, covs, x), rtol=1e-4)


def test_log_prob_is_stable_far_from_the_mean():
    gmm = prior.standard_normal_prior(100)
    x = jnp.full(100, 50.0)  # exp(-0.5 * 250000) underflows without log-sum-exp
    e = float(dlm.identity_energy(gmm, x))
    expected = 0.5 * 100 * 2500 + 0.5 * 100 * np.log(2 * np.pi)
    np.testing.assert_allclose(e, expected, rtol=1e-5)
    g = jax.grad(lambda b: dlm.identity_energy(gmm, b))(x)
    np.testing.assert_allclose(np.asarray(g), np.asarray(x), rtol=1e-5)  # d/dbeta of |beta|^2 / 2


def test_em_recovers_separated_clusters():
    key = jax.random.key(0)
    true_means = jnp.array([[-6.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 8.0, 0.0]])
    sizes = [300, 500, 200]
    pts = [m + jax.random.normal(jax.random.fold_in(key, i), (n, 3)) * 0.7 for i, (m, n) in
           enumerate(zip(true_means, sizes))]
    data = jnp.concatenate(pts)
    gmm = dlm.fit_gmm(jax.random.key(3), data, num_components=3, num_iters=60)
    order = np.argsort(np.asarray(gmm.means[:, 0]) + 0.01 * np.asarray(gmm.means[:, 1]))
    fitted = np.asarray(gmm.means)[order]
    expected = np.asarray(true_means)[[0, 2, 1]]
    np.testing.assert_allclose(fitted, expected, atol=0.2)
    np.testing.assert_allclose(np.sort(np.exp(np.asarray(gmm.log_weights))), [0.2, 0.3, 0.5], atol=0.03)
    cov = np.asarray(gmm.scale_tril @ jnp.swapaxes(gmm.scale_tril, 1, 2))
    np.testing.assert_allclose(np.diagonal(cov, axis1=1, axis2=2), 0.49, atol=0.12)
