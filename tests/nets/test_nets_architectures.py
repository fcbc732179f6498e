"""Every registered architecture builds, keeps the map shape and can learn a smooth map."""

import numpy as np
import pytest
import torch

from radiomap_geo.errors import InputError
from radiomap_geo.nets import build_network, list_architectures

CHANNELS = ["building_height", "tx", "distance", "antenna_gain"]

# Tiny configurations: the tests check wiring and learnability, not capacity.
TINY = {
    "cnn": ({"depth": 6, "width": 8}, 32),
    "unet": ({"base": 8, "depth": 2}, 32),
    "inception_unet": ({"base": 6, "depth": 2}, 32),
    "radiounet": ({"width_scale": 0.1}, 64),
    "pmnet": ({"base": 8, "n_blocks": (1, 1, 1, 1), "atrous_rates": (2, 4)}, 32),
    "unet_dcn": ({"base": 8, "depth": 2}, 32),
}


def test_registry_lists_every_architecture():
    assert sorted(list_architectures()) == sorted(TINY)


def _synthetic_batch(size: int):
    """Two maps: distance from a transmitter and a building mask; target smooth in distance."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    inputs, targets = [], []
    for tx in ((size // 3, size // 4), (size // 2, 2 * size // 3)):
        dist = torch.hypot((yy - tx[0]).float(), (xx - tx[1]).float()) / size
        tx_map = torch.zeros(size, size)
        tx_map[tx] = 1.0
        buildings = (torch.rand(size, size, generator=g) > 0.8).float() * 0.2
        gain = torch.full((size, size), 0.5)
        inputs.append(torch.stack([buildings, tx_map, dist, gain]))
        targets.append((0.9 - 0.6 * dist.clamp(max=1.0))[None])
    return torch.stack(inputs), torch.stack(targets)


@pytest.mark.parametrize("arch", sorted(TINY))
def test_architecture_maps_shape_and_learns(arch):
    kwargs, size = TINY[arch]
    net = build_network(arch, len(CHANNELS), **kwargs)
    assert size % net.size_multiple == 0
    x, y = _synthetic_batch(size)
    out = net(x)
    assert out.shape == (2, 1, size, size)
    assert torch.isfinite(out).all()

    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses
    # The recorded configuration rebuilds the same network.
    twin = build_network(arch, len(CHANNELS), **net.config)
    assert [p.shape for p in twin.parameters()] == [p.shape for p in net.parameters()]


@pytest.mark.parametrize("arch", sorted(TINY))
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_fast_inference_matches_the_plain_network(arch, precision, geo):
    """NetworkModel runs CPU inference in channels-last memory, with batch normalisation folded
    and a frozen graph: in float32 the same dB map as a plain, contiguous forward pass of an
    identical network on the same input stack; in bfloat16 (float32 output layer) within a
    small fraction of a dB on average."""
    from radiomap_geo.nets import NetworkModel
    from radiomap_geo.rasterize import feature_stack

    kwargs, size = TINY[arch]
    torch.manual_seed(0)
    net = build_network(arch, len(CHANNELS), **kwargs).eval()
    twin = build_network(arch, len(CHANNELS), **kwargs).eval()
    twin.load_state_dict(net.state_dict())
    grid = geo.make_grid(size, size, 2.0)
    scene = geo.random_scene(grid, seed=1)
    site = geo.site_at_cell(grid, size // 3, size // 2, height_m=12.0)
    model = NetworkModel.from_network(
        net,
        CHANNELS,
        metres_per_pixel=2.0,
        frequency_mhz=3500.0,
        reach_m=size,
        device="cpu",
        precision=precision,
    )
    conv = next(m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)  # the fast path is on
    assert model.runner.precision == precision
    fast = model.predict_window(scene, site)
    again = model.predict_window(scene, site)  # the second call runs the frozen graph
    with torch.inference_mode():
        plain = twin(torch.from_numpy(feature_stack(scene, site, CHANNELS))[None])[0, 0]
    expected = model.scaling.to_db(plain.numpy())
    assert fast.shape == (size, size) and np.ptp(fast) > 0.01  # a map, not a constant
    np.testing.assert_array_equal(fast, again)
    assert model.runner.frozen_graphs == 1  # this torch traces every architecture
    if precision == "float32":
        np.testing.assert_allclose(fast, expected, rtol=0, atol=2e-3)
    else:
        error = fast - expected
        assert abs(error.mean()) < 0.1 and np.sqrt(np.mean(error**2)) < 0.3, (
            error.mean(),
            np.abs(error).max(),
        )


def test_wrong_input_shapes_are_refused_clearly():
    net = build_network("unet", 3, base=4, depth=2)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.zeros(1, 2, 32, 32))


def test_registry_errors():
    with pytest.raises(InputError, match="unknown network architecture"):
        build_network("resnet9000", 2)
    with pytest.raises(InputError, match="bad arguments"):
        build_network("unet", 2, widht=3)


@pytest.mark.parametrize(
    "arch,kwargs,message",
    [
        ("cnn", {"depth": 1}, "depth >= 2"),
        ("cnn", {"kernel_size": 4}, "kernel_size must be odd"),
        ("unet", {"depth": 0}, "depth >= 1"),
        ("unet", {"block": "triple"}, "unknown UNet block"),
        ("inception_unet", {"kernels": (1, 4)}, "inception kernels must be odd"),
        ("unet_dcn", {"depth": 2, "dcn_levels": (3,)}, "dcn_levels must lie in 0..2"),
        ("pmnet", {"n_blocks": (1, 1, 1)}, "four stage depths"),
        ("radiounet", {"cascade": True, "widths": 3}, "unexpected keyword"),
    ],
)
def test_bad_hyper_parameters_are_refused_by_name(arch, kwargs, message):
    """Each architecture's hyper-parameters are checked before any layer is built."""
    with pytest.raises(InputError, match=message):
        build_network(arch, 2, **kwargs)


def test_recorded_configuration_resolves_defaults():
    """What a weights file records: every hyper-parameter, defaults and derived ones included."""
    net = build_network("unet_dcn", 3, base=4, depth=3)
    assert net.config == {
        "base": 4,
        "depth": 3,
        "max_width": 256,
        "dcn_levels": [1, 2, 3],
        "offset_groups": 1,
    }
    inception = build_network("inception_unet", 3, base=4, depth=1, kernels=[1, 3])
    assert inception.config == {
        "base": 4,
        "depth": 1,
        "kernels": [1, 3],
        "strided": True,
        "batch_norm": True,
    }


def test_paper_parameter_counts():
    """The defaults reproduce paper 000's Table 1 counts for two binary inputs."""
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(build_network("cnn", 2)) == 204_353  # 204.35 k
    assert count(build_network("cnn", 2, kernel_size=5)) == 566_337  # 566.33 k
    assert round(count(build_network("unet", 2, batch_norm=False)) / 1e6, 2) == 31.03
