"""Running a trained network fast for prediction: bfloat16 arithmetic and a frozen graph.

Prediction spends most of its time in the network (``benchmarks/results/precision.md``), so
:class:`InferenceRunner` runs it as cheaply as the hardware allows without changing the maps
beyond the network's own noise:

* **precision** ``"bfloat16"``: every layer but the output convolution runs in bfloat16 under
  autocast; the output convolution runs in float32, because bfloat16 carries 8 significant bits
  and an output in it would be quantised to ~0.4 % of the 120 dB output span (steps of ~0.5 dB).
  On 120 re-traced test maps the bfloat16 maps differ from the float32 ones by -0.015 dB on
  average and 0.07 dB RMS (99 % of cells within 0.19 dB; weights rounded to bfloat16 shift a map
  by a near-constant amount), the RMSE against the ray tracer is unchanged (7.797 and 7.795 dB),
  and the network takes 7.2 ms per map instead of 11.8 (``benchmarks/bench_precision.py``).
  ``"float32"`` is the exact network; ``"auto"`` (the default) picks bfloat16 where the
  processor computes it natively (AVX512-BF16 / AMX on CPUs, Ampere and later GPUs) and float32
  elsewhere, where emulated bfloat16 would be slower, not faster.
* **folded batch normalisation**: every convolution followed by a batch normalisation is
  replaced by one convolution with the normalisation in its weights and bias (exact up to float
  rounding: one pass over the activations fewer per layer).
* **frozen graph** (CPU): the network is traced once per input shape and frozen with
  :func:`torch.jit.freeze`, which fuses the convolutions with their activations in oneDNN and
  drops Python's per-layer dispatch: with the folding 11.8 ms per map instead of 13.5 for the
  network as trained (same benchmark). ``torch.jit`` is deprecated;
  wherever tracing fails (a future torch, an architecture it cannot trace) the runner stays
  eager, with the same values, and logs why at DEBUG.

Training and the antenna optimiser (which needs gradients) use the eager float32 network.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor, nn

from radiomap_geo.errors import InputError
from radiomap_geo.options import PRECISIONS

log = logging.getLogger(__name__)

#: Frozen graphs kept per runner (one per input shape: a window, a TTA batch ...).
MAX_FROZEN_SHAPES = 4


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 convolutions natively (so they are faster)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without the query
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"float32"`` or ``"bfloat16"`` for a requested precision on ``device``."""
    if precision not in PRECISIONS:
        raise InputError(
            f"precision {precision!r} is not one of {', '.join(PRECISIONS)}", parameter="precision"
        )
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision


class _Float32(nn.Module):
    """Runs the wrapped layer in float32 even inside a bfloat16 autocast region."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.inner(x.float())


class _Autocast(nn.Module):
    """The network under a bfloat16 autocast region (a module, so that it can be traced)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
            return self.net(x)


def fold_batch_norm(module: nn.Module) -> nn.Module:
    """``module`` with every ``Conv2d -> BatchNorm2d`` pair of a sequence folded into one
    convolution (its children are replaced in place; eval mode only: the running statistics
    become weights). Returns the module, or a new sequence when ``module`` is one.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for name, child in list(module.named_children()):
        setattr(module, name, fold_batch_norm(child))
    if not isinstance(module, nn.Sequential):
        return module
    layers, folded = list(module), []
    while layers:
        layer = layers.pop(0)
        if isinstance(layer, nn.Conv2d) and layers and isinstance(layers[0], nn.BatchNorm2d):
            layer = fuse_conv_bn_eval(layer, layers.pop(0))
        folded.append(layer)
    return nn.Sequential(*folded)


def with_float32_output(net: nn.Module) -> nn.Module:
    """``net`` with its final one-channel convolution wrapped to run in float32 (in place)."""
    head = net.output_conv()
    for parent in net.modules():
        for name, child in parent.named_children():
            if child is head:
                setattr(parent, name, _Float32(head))
                return net
    raise TypeError(f"{type(net).__name__}: its output convolution has no parent module")


class InferenceRunner:
    """``runner(x) -> float32 output`` of a network in eval mode, as fast as allowed.

    Args:
        net: the trained network (eval mode, on ``device``); it is not modified.
        device: where it runs.
        precision: one of :data:`PRECISIONS`.
        freeze: trace and freeze per input shape on CPU (see the module docstring).
        fold: fold batch normalisation into the convolutions (``freeze=False, fold=False,
            precision="float32"`` runs the network as it is: benchmarks compare against that).
    """

    def __init__(
        self,
        net: nn.Module,
        device: torch.device,
        precision: str = "auto",
        *,
        freeze: bool = True,
        fold: bool = True,
    ):
        self.precision = resolve_precision(precision, device)
        self.check_input: Callable[[Tensor], None] = getattr(net, "check_input", lambda x: None)
        module: nn.Module = copy.deepcopy(net).eval()
        if fold:
            module = fold_batch_norm(module)
        if self.precision == "bfloat16":
            module = _Autocast(with_float32_output(module)).eval()
        self.module = module
        self.freeze = freeze and device.type == "cpu"
        self._frozen: OrderedDict[tuple, Callable[[Tensor], Tensor]] = OrderedDict()

    def __call__(self, x: Tensor) -> Tensor:
        """The network's output for ``x`` in float32 (no gradients)."""
        self.check_input(x)  # outside the graph: a traced graph would bake the check in
        with torch.inference_mode():
            return self._graph_for(x)(x).float()

    @property
    def frozen_graphs(self) -> int:
        """How many input shapes run as a frozen graph (the others run eagerly)."""
        return sum(isinstance(g, torch.jit.ScriptModule) for g in self._frozen.values())

    def _graph_for(self, x: Tensor) -> Callable[[Tensor], Tensor]:
        if not self.freeze:
            return self.module
        key = (tuple(x.shape), x.dtype, x.is_contiguous(memory_format=torch.channels_last))
        graph = self._frozen.get(key)
        if graph is None:
            graph = self._frozen[key] = self._trace(x)
            while len(self._frozen) > MAX_FROZEN_SHAPES:
                self._frozen.popitem(last=False)
        self._frozen.move_to_end(key)
        return graph

    def _trace(self, x: Tensor) -> Callable[[Tensor], Tensor]:
        # Tracing needs tensors made outside inference mode.
        with torch.inference_mode(False), torch.no_grad():
            example = x.clone()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", torch.jit.TracerWarning)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    traced = torch.jit.trace(self.module, example, check_trace=False)
                    frozen = torch.jit.freeze(traced.eval())
                for _ in range(2):  # the profiling executor optimises on the first calls
                    frozen(example)
            except Exception as exc:  # noqa: BLE001 - any tracing failure: stay eager, correct
                log.debug("network not frozen (%s); running it eagerly", exc)
                return self.module
        return frozen
