"""The batch axis over every device: one helper set for training and batch fitting.

One process: `jax.devices()` are the local devices (1 CPU, 1 GPU, 8 GPUs, or CPU devices forced
with XLA_FLAGS=--xla_force_host_platform_device_count=N).  Several processes (after
`jax.distributed.initialize()`): the mesh spans every host's devices, each process passes the rows
it holds and reads back its own.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def device_mesh(devices=None) -> Mesh:
    """A 1-D mesh named "batch" over `devices` (default: all devices of all processes)."""
    return Mesh(np.asarray(jax.devices() if devices is None else devices), ("batch",))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P("batch"))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def local_device_count(mesh: Mesh) -> int:
    return max(mesh.devices.size // max(jax.process_count(), 1), 1)


def shard_batch(tree, mesh: Mesh):
    """Put this process's rows (leading axis) of every leaf on the mesh's batch axis."""
    s = batch_sharding(mesh)
    if jax.process_count() > 1:
        return jax.tree_util.tree_map(lambda a: jax.make_array_from_process_local_data(s, np.asarray(a)), tree)
    return jax.device_put(tree, s)


def local_rows(tree):
    """This process's rows of batch-sharded arrays, as numpy (all rows with one process)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)

    def rows(a):
        shards = sorted(a.addressable_shards, key=lambda sh: sh.index[0].start or 0)
        return np.concatenate([np.asarray(sh.data) for sh in shards])
    return jax.tree_util.tree_map(rows, tree)
