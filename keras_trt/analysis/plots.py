"""PNG figures of spike activity (matplotlib, the ``[analysis]`` extra)."""

from __future__ import annotations

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            'Plots need matplotlib: pip install "keras-trt[analysis]" (or matplotlib).'
        ) from error
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_profile(report, path):
    """Bar charts of a :class:`~keras_trt.analysis.Profile`: firing rate per spiking layer
    (top) and energy per layer (bottom, nJ per sample). Returns ``path``."""
    plt = _pyplot()
    spiking = [r for r in report.layers if r["firing_rate"] is not None]
    costly = [r for r in report.layers if r["energy_pj"]]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6, 0.35 * max(len(spiking), len(costly))), 7))
    top.bar(range(len(spiking)), [r["firing_rate"] for r in spiking], color="tab:blue")
    top.set_xticks(range(len(spiking)), [r["name"] for r in spiking], rotation=90, fontsize=7)
    top.set_ylabel("firing rate")
    top.set_title(f"firing rate per layer (mean over T={report.totals['timesteps']} and "
                  f"{report.totals['samples']} samples; all: {report.totals['firing_rate']:.3f})")
    colors = ["tab:red" if r["macs"] else "tab:green" for r in costly]
    bottom.bar(range(len(costly)), [r["energy_pj"] / 1e3 for r in costly], color=colors)
    bottom.set_xticks(range(len(costly)), [r["name"] for r in costly], rotation=90, fontsize=7)
    bottom.set_ylabel("energy per sample (nJ)")
    bottom.set_title(f"energy per layer (red: MACs, green: SOPs/ACs); total "
                     f"{report.totals['energy_pj'] / 1e3:.2f} nJ")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_spike_raster(spikes, path, title="spikes"):
    """Heat maps of one input's spikes: one panel per spiking layer, neurons x time steps.

    ``spikes`` maps layer names to arrays ``[T, ...]`` (one sample; the neuron axes are
    flattened). Neurons are shown in their order; a layer with more than 512 shows the 512 most
    active. Returns ``path``.
    """
    plt = _pyplot()
    names = list(spikes)
    fig, axes = plt.subplots(1, len(names), figsize=(max(6, 1.6 * len(names)), 5), squeeze=False)
    for ax, name in zip(axes[0], names):
        s = np.asarray(spikes[name])
        s = s.reshape(s.shape[0], -1).T  # [neurons, T]
        rate, total = s.mean(), s.shape[0]
        shown = ""
        if total > 512:
            s = s[np.sort(np.argsort(-s.sum(axis=1), kind="stable")[:512])]
            shown = f"\n512 most active of {total}"
        ax.imshow(s, aspect="auto", interpolation="nearest", cmap="Greys", vmin=0, vmax=1)
        ax.set_title(f"{name}\nrate {rate:.3f}{shown}", fontsize=7)
        ax.set_xlabel("t")
        ax.set_yticks([])
    axes[0][0].set_ylabel("neuron")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
