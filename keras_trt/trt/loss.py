"""The backend-agnostic pieces of the TRT loss (pure ``keras.ops``)."""

from keras import ops


def softmax_kl(target_logits, logits, temperature, stop_gradient_target=False):
    """Per-sample ``KL(softmax(target/t) || softmax(logits/t))``, summed over classes: ``[B]``."""
    log_p = ops.log_softmax(target_logits / temperature, axis=-1)
    if stop_gradient_target:
        log_p = ops.stop_gradient(log_p)
    log_q = ops.log_softmax(logits / temperature, axis=-1)
    return ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)


def consistency(o, o_rev, config):
    """Per-sample distillation term between the branches, ``temperature^2 * KL``: ``[B]``."""
    t = config.temperature
    sg = config.stop_gradient_target
    forward = lambda: softmax_kl(o, o_rev, t, sg)  # noqa: E731
    backward = lambda: softmax_kl(o_rev, o, t, sg)  # noqa: E731
    if config.symmetric_kl:
        kl = 0.5 * (forward() + backward())
    elif config.kl_direction == "original_to_reversed":
        kl = forward()
    else:
        kl = backward()
    return (t * t) * kl


def batch_mean(per_sample, sample_weight=None):
    """Mean over the batch, weighted like Keras' ``sum_over_batch_size`` reduction."""
    if sample_weight is not None:
        per_sample = per_sample * ops.cast(ops.reshape(sample_weight, (-1,)), per_sample.dtype)
    return ops.mean(per_sample)
