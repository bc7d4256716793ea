"""Levenberg-Marquardt as init / update / run over a NamedTuple state, entirely jittable.

The problem is given by a `normal_equations(x) -> (JtJ, Jtr, cost)` function, so the
caller decides how J^T J is accumulated (dense from jax.jacfwd, or structured and
sparse as in dlm.fitting.realtime), and a `cost(x) -> ()` function used to accept
or reject a step.  cost = 0.5 |r|^2.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve


class LMState(NamedTuple):
    x: jax.Array          # (P,) current parameters
    cost: jax.Array       # () cost at x
    damping: jax.Array    # () lambda
    iteration: jax.Array  # () int32
    accepted: jax.Array   # () int32 number of accepted steps


def lm_init(cost_fn: Callable, x0: jax.Array, damping: float = 1e-3) -> LMState:
    return LMState(x0, cost_fn(x0), jnp.asarray(damping, x0.dtype), jnp.zeros((), jnp.int32),
                   jnp.zeros((), jnp.int32))


def spd_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """x with a x = b for a symmetric positive definite a (P, P), b (P,), by Gauss-Jordan
    elimination without pivoting (an SPD matrix has positive pivots), one `fori_loop` of P
    rank-one updates of [a | b] in plain XLA ops: no LAPACK call, so no thread-pool use."""
    p = a.shape[-1]
    m = jnp.concatenate([a, b[:, None]], axis=1)                     # (P, P + 1)

    def eliminate(k, m):
        pivot_row = m[k] / m[k, k]
        m = m - m[:, k][:, None] * pivot_row[None, :]                 # column k -> 0 in every row
        return m.at[k].set(pivot_row)                                 # ... but 1 in row k
    return jax.lax.fori_loop(0, p, eliminate, m)[:, p]


LINEAR_SOLVERS = ("cholesky", "gauss_jordan")


def _solve(a, b, linear_solver: str):
    if linear_solver == "cholesky":
        return cho_solve(cho_factor(a, lower=True), b)
    if linear_solver == "gauss_jordan":
        return spd_solve(a, b)
    raise ValueError(f"linear_solver must be one of {LINEAR_SOLVERS}, not {linear_solver!r}")


def _damped(jtj: jax.Array, damping: jax.Array) -> jax.Array:
    """J^T J + lambda diag(J^T J), with a floor that keeps it positive definite."""
    diag = jnp.diagonal(jtj)
    return jtj + jnp.diag(damping * diag + 1e-9 * (1.0 + jnp.max(diag)))


def lm_update(normal_fn: Callable, cost_fn: Callable, state: LMState, min_damping: float = 1e-7,
              max_damping: float = 1e7, linear_solver: str = "cholesky") -> LMState:
    """One step: solve (J^T J + lambda diag(J^T J)) delta = -J^T r (`linear_solver`), keep it if
    the cost drops."""
    jtj, jtr, cost = normal_fn(state.x)
    delta = -_solve(_damped(jtj, state.damping), jtr, linear_solver)
    x_new = state.x + delta
    new_cost = cost_fn(x_new)
    ok = jnp.isfinite(new_cost) & (new_cost < cost)
    return LMState(
        x=jnp.where(ok, x_new, state.x),
        cost=jnp.where(ok, new_cost, cost),
        damping=jnp.clip(jnp.where(ok, state.damping * 0.3, state.damping * 5.0), min_damping, max_damping),
        iteration=state.iteration + 1,
        accepted=state.accepted + ok.astype(jnp.int32))


def lm_run(normal_fn: Callable, cost_fn: Callable, x0: jax.Array, num_iters: int,
           damping: float = 1e-3, linear_solver: str = "cholesky") -> LMState:
    """A fixed number of iterations (a static count keeps the solve one XLA loop)."""
    state = lm_init(cost_fn, x0, damping)
    return jax.lax.fori_loop(0, num_iters,
                             lambda i, s: lm_update(normal_fn, cost_fn, s, linear_solver=linear_solver), state)


def lm_run_reused_jtj(normal_fn: Callable, gradient_fn: Callable, x0: jax.Array, num_iters: int,
                      damping: float = 1e-3, linear_solver: str = "cholesky",
                      curvature_fn: Callable | None = None) -> LMState:
    """LM that keeps J^T J while its steps succeed: each step solves the damped J^T J last built
    against the gradient at the current x, `gradient_fn(x) -> (J^T r, cost)`, and is kept if the
    cost drops (damping x 0.3, as `lm_update`).  A rejected step rebuilds J^T J at the current x
    when it was built elsewhere (damping kept: the next step is the one LM would have taken), or
    raises the damping x 5 when it was built there.  A kept step costs a gradient and a small
    factorisation instead of J^T J's products: a warm-started frame, whose J^T J barely moves
    between steps, pays for J^T J once; a frame far from its start (a quick turn) falls back to
    LM's steps.  curvature_fn(x) -> (P,): the diagonal part of J^T J that is cheap and may jump
    between steps (a bound prior's active set), taken fresh at each step.  Fixed point: LM's
    (J^T r = 0 with a fresh gradient)."""
    strip = (lambda x, jtj: jtj) if curvature_fn is None else (lambda x, jtj: jtj - jnp.diag(curvature_fn(x)))
    jtj, jtr, cost = normal_fn(x0)
    jtj = strip(x0, jtj)

    def solve(x, jtj, g, damping):
        a = jtj if curvature_fn is None else jtj + jnp.diag(curvature_fn(x))
        return _solve(_damped(a, damping), g, linear_solver)

    def step(i, carry):
        state, g, jtj, fresh = carry
        x_new = state.x - solve(state.x, jtj, g, state.damping)
        g_new, new_cost = gradient_fn(x_new)
        ok = jnp.isfinite(new_cost) & (new_cost < state.cost)
        rebuild = ~ok & ~fresh
        jtj = jax.lax.cond(rebuild, lambda: strip(state.x, normal_fn(state.x)[0]), lambda: jtj)
        damping = jnp.where(ok, state.damping * 0.3, jnp.where(rebuild, state.damping, state.damping * 5.0))
        state = LMState(jnp.where(ok, x_new, state.x), jnp.where(ok, new_cost, state.cost),
                        jnp.clip(damping, 1e-7, 1e7), state.iteration + 1, state.accepted + ok.astype(jnp.int32))
        return state, jnp.where(ok, g_new, g), jtj, ~ok
    state = LMState(x0, cost, jnp.asarray(damping, x0.dtype), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    state, _, _, _ = jax.lax.fori_loop(0, num_iters, step, (state, jtr, jtj, jnp.ones((), bool)))
    return state


def dense_normal_equations(residual_fn: Callable) -> Callable:
    """The reference: J from jax.jacfwd of the whole residual vector."""
    def normal(x):
        r = residual_fn(x)
        j = jax.jacfwd(residual_fn)(x)
        return j.T @ j, j.T @ r, 0.5 * jnp.sum(r * r)
    return normal
