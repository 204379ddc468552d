"""The peers' CIFAR-stem spiking ResNet-18: SpikingJelly 2.0.0 and snnTorch 1.0.0.

Both copy SpikingJelly's ``spiking_resnet18`` (torchvision layout and names, BasicBlock
``sn2(bn2(conv2(sn1(bn1(conv1(x))))) + downsample(x))``) with the CIFAR stem: a 3x3/1 conv of
64 channels, BN, LIF and no max-pool. SpikingJelly's own ``model.spiking_resnet`` module is not
imported because it imports torchvision, which must match the torch build; the block below is
its ``BasicBlock`` line for line, made of SpikingJelly's multi-step layers.

The LIF everywhere: ``tau=2``, ``v_threshold=1``, hard reset to 0, ``decay_input=True``,
``detach_reset=True``, ATan surrogate (alpha 2).

snnTorch has no multi-step LIF with SpikingJelly's charge equation and no ResNet. Here its
``snn.Leaky`` (``beta = 1 - 1/tau``, ``reset_mechanism="zero"``, ATan surrogate, reset
detached by construction) runs step by step on ``input / tau``, which is SpikingJelly's
``H[t] = V[t-1] + (X[t] - V[t-1]) / tau`` up to float rounding; it fires on ``H > V_th``
where SpikingJelly fires on ``H >= V_th`` (differs only on exact ties). Convolutions and BN run
on the time-folded ``[T*B, ...]`` tensor as in SpikingJelly (BN statistics over T and B), so
both peers compute the same function as the keras-trt model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from benchmarks.common import NUM_CLASSES, TAU

STAGES = ((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2))


# --------------------------------------------------------------------------- SpikingJelly
def _sj():
    from spikingjelly.activation_based import layer, neuron, surrogate

    def lif():
        return neuron.LIFNode(
            tau=TAU, decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=True,
            surrogate_function=surrogate.ATan(), step_mode="m",
        )

    return layer, lif


class SJBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        layer, lif = _sj()
        self.conv1 = layer.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = layer.BatchNorm2d(planes)
        self.sn1 = lif()
        self.conv2 = layer.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = layer.BatchNorm2d(planes)
        self.sn2 = lif()
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                layer.Conv2d(inplanes, planes, 1, stride, bias=False), layer.BatchNorm2d(planes)
            )

    def forward(self, x):
        identity = x
        out = self.sn1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.sn2(out)


class SJResNet18(nn.Module):
    """``[T, B, 3, 32, 32] -> [B, classes]`` (the mean over T of the per-step logits)."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        from spikingjelly.activation_based import functional

        layer, lif = _sj()
        self.conv1 = layer.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = layer.BatchNorm2d(64)
        self.sn1 = lif()
        inplanes = 64
        for i, (planes, blocks, stride) in enumerate(STAGES, start=1):
            mods = []
            for j in range(blocks):
                mods.append(SJBasicBlock(inplanes, planes, stride if j == 0 else 1))
                inplanes = planes
            setattr(self, f"layer{i}", nn.Sequential(*mods))
        self.avgpool = layer.AdaptiveAvgPool2d((1, 1))
        self.fc = layer.Linear(512, num_classes)
        functional.set_step_mode(self, "m")
        self._functional = functional

    def forward(self, x_seq):
        x = self.sn1(self.bn1(self.conv1(x_seq)))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        x = torch.flatten(self.avgpool(x), 2)
        return self.fc(x).mean(0)

    def reset_state(self):
        self._functional.reset_net(self)


# --------------------------------------------------------------------------- snnTorch
class SnnTorchLIF(nn.Module):
    """snnTorch ``Leaky`` over the time axis of a folded ``[T*B, ...]`` tensor."""

    def __init__(self, timesteps):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.timesteps = timesteps
        self.leaky = snn.Leaky(
            beta=1.0 - 1.0 / TAU, threshold=1.0, reset_mechanism="zero",
            spike_grad=surrogate.atan(alpha=2.0), init_hidden=False,
        )

    def forward(self, x):
        steps = x.reshape(self.timesteps, -1, *x.shape[1:])
        mem = self.leaky.reset_mem()
        out = []
        for t in range(self.timesteps):
            spk, mem = self.leaky(steps[t] * (1.0 / TAU), mem)
            out.append(spk.to(x.dtype))  # snnTorch's spike functions return float32
        return torch.cat(out, 0)


class SnnTorchBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride, timesteps):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.sn1 = SnnTorchLIF(timesteps)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.sn2 = SnnTorchLIF(timesteps)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        identity = x
        out = self.sn1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.sn2(out + identity)


class SnnTorchResNet18(nn.Module):
    """``[T, B, 3, 32, 32] -> [B, classes]``, convolutions on the folded ``[T*B, ...]``."""

    def __init__(self, timesteps, num_classes=NUM_CLASSES):
        super().__init__()
        self.timesteps = timesteps
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.sn1 = SnnTorchLIF(timesteps)
        inplanes = 64
        for i, (planes, blocks, stride) in enumerate(STAGES, start=1):
            mods = []
            for j in range(blocks):
                mods.append(SnnTorchBasicBlock(inplanes, planes, stride if j == 0 else 1, timesteps))
                inplanes = planes
            setattr(self, f"layer{i}", nn.Sequential(*mods))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x_seq):
        x = x_seq.flatten(0, 1)
        x = self.sn1(self.bn1(self.conv1(x)))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        x = x.mean((2, 3)).reshape(self.timesteps, -1, x.shape[1])
        return self.fc(x).mean(0)

    def reset_state(self):
        pass


# --------------------------------------------------------------------------- weights
def load_weights(net, weights):
    """Loads ``{torch_name: numpy array}`` (see ``keras_net.torch_state``) into ``net``."""
    state = net.state_dict()
    missing = [
        k for k in state
        if k not in weights and not k.endswith("num_batches_tracked") and ".leaky." not in k
    ]
    if missing:
        raise KeyError(f"weights lack {missing[:5]}...")
    with torch.no_grad():
        for name, tensor in state.items():
            if name in weights:
                value = torch.from_numpy(np.ascontiguousarray(weights[name]))
                if tuple(value.shape) != tuple(tensor.shape):
                    raise ValueError(f"{name}: {tuple(value.shape)} vs {tuple(tensor.shape)}")
                tensor.copy_(value)


class SJSpikformer(nn.Module):
    """SpikingJelly 2.0's own ``spikformer_cifar10`` (its defaults: LIF tau 2, hard reset,
    detach_reset, sigmoid surrogate, torch backend); logits averaged over its T outputs."""

    def __init__(self, timesteps, num_classes=NUM_CLASSES):
        super().__init__()
        from spikingjelly.activation_based.model import spikformer

        self.net = spikformer.spikformer_cifar10(T=timesteps, num_classes=num_classes)

    def forward(self, x_seq):
        return self.net(x_seq).mean(0)

    def reset_state(self):
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)


def build(framework, timesteps):
    from benchmarks.common import MODEL

    if MODEL == "spikformer":
        if framework != "spikingjelly":
            raise ValueError(f"{framework} has no Spikformer; benchmark it against spikingjelly")
        return SJSpikformer(timesteps)
    if framework == "spikingjelly":
        return SJResNet18()
    if framework == "snntorch":
        return SnnTorchResNet18(timesteps)
    raise ValueError(framework)
