"""tf.data plumbing shared by the pipelines: per-element seeds, batching, seeds for ops."""

from __future__ import annotations

import inspect

import tensorflow as tf


def op_seed(seed):
    """Return a stateless-op seed (int32 [2]): ``seed`` itself, or a fresh random one if None."""
    if seed is None:
        return tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.zeros_like(seed)])
    return seed


def split_seed(seed, num: int):
    """Split a [2] seed into ``num`` independent [2] seeds."""
    return tf.unstack(tf.random.experimental.stateless_split(op_seed(seed), num=num))


def seed_stream(seed):
    """A dataset of [2] int64 seeds: deterministic for an int ``seed`` (and new each epoch),
    nondeterministic for ``None``."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def accepts_seed(fn) -> bool:
    try:
        return "seed" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def finish(ds, batch_size: int, shuffle: bool, seed, augment_fn=None, shuffle_buffer: int = 10_000,
           drop_remainder: bool = False, map_fn=None, cache: bool = False):
    """Common tail of every pipeline.

    ``ds`` yields (x, y). Order: [cache] -> [shuffle] -> map_fn(x, y, seed) or
    augment_fn(x[, seed]) per element -> batch -> prefetch.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    if map_fn is not None or augment_fn is not None:
        ds = tf.data.Dataset.zip((ds, seed_stream(None if seed is None else seed + 1)))
        with_seed = augment_fn is not None and accepts_seed(augment_fn)

        def _apply(xy, s):
            x, y = xy
            s1, s2 = tf.unstack(tf.random.experimental.stateless_split(s, num=2))
            if map_fn is not None:
                x, y = map_fn(x, y, s1)
            if augment_fn is not None:
                x = augment_fn(x, seed=s2) if with_seed else augment_fn(x)
            return x, y

        ds = ds.map(_apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=seed is not None)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)
