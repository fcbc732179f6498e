"""Fine-tuning starts: the weights a training run starts from (``train --init-weights``).

:func:`initial_weights` loads and checks them against the run's network; :func:`warm_start_state`
maps their tensors onto a network that reads more input channels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from radiomap_geo.errors import InputError
from radiomap_geo.nets.registry import build_network
from radiomap_geo.nets.scaling import OutputScaling


def initial_weights(path, arch: str, arch_kwargs: Mapping[str, Any], channels: Sequence[str]):
    """The verified weights to fine-tune from, or None; refuses weights of another network.

    The start's channels must be among this run's (new channels start with zero weights), and
    its tensors must be finite (weights of a diverged run would only train NaN).
    """
    if path is None:
        return None
    from radiomap_geo.nets.weights import load_weights

    start = load_weights(path)
    meta = start.metadata
    built = build_network(arch, len(channels), **arch_kwargs).config
    theirs = build_network(meta["arch"], len(meta["channels"]), **meta["arch_kwargs"]).config
    mismatch = [
        what
        for what, ok in (
            ("architecture", meta["arch"] == arch and built == theirs),
            ("channels", set(meta["channels"]) <= set(channels)),
            ("output scaling", start.scaling == OutputScaling()),
        )
        if not ok
    ]
    if mismatch:
        raise InputError(
            f"cannot start from {path}: its {', '.join(mismatch)} differ from this run's "
            f"({meta['arch']} {meta['arch_kwargs']}, channels {meta['channels']}; a run may add "
            "channels, not drop them)",
            parameter="init_weights",
        )
    broken = [
        name
        for name, tensor in start.state_dict.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if broken:
        raise InputError(
            f"cannot start from {path}: {len(broken)} of its tensors (first: {broken[0]}) hold "
            "NaN or infinite values; start from other weights",
            parameter="init_weights",
        )
    return start


def warm_start_state(net: Any, start: Any, channels: Sequence[str]) -> dict[str, torch.Tensor]:
    """``start``'s tensors for ``net`` with input ``channels`` (a superset of the start's).

    The first convolution's weights are re-ordered to ``channels``; channels the start did not
    have get zero weights, so the network begins exactly as the start and learns to use them.
    """
    old = list(start.metadata["channels"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in start.state_dict.items()}
    if old == list(channels):
        return state
    own = net.state_dict()
    first = [k for k, v in state.items() if v.ndim == 4 and tuple(v.shape) != tuple(own[k].shape)]
    if len(first) != 1 or state[first[0]].shape[1] != len(old):
        raise InputError(
            f"cannot add input channels to {start.path.name}: its {start.metadata['arch']} "
            "network reads the inputs in more than one layer"
        )
    key = first[0]
    weight = torch.zeros_like(own[key])
    for j, name in enumerate(channels):
        if name in old:
            weight[:, j] = state[key][:, old.index(name)]
    state[key] = weight
    return state
