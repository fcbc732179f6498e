"""Metrics in dB: overall, LOS/NLOS, distance and path-gain bins; timing."""

import math
import time

import numpy as np
import pytest
import torch

from radiomap_geo.nets import OutputScaling, build_network, evaluate_network, map_metrics
from radiomap_geo.nets.evaluate import MetricAccumulator, time_inference


def test_known_errors_by_group():
    true = np.array([[-60.0, -90.0, -130.0, -150.0]])
    pred = true + np.array([[2.0, -2.0, 4.0, 100.0]])
    valid = np.array([[True, True, True, False]])
    los = np.array([[True, True, False, False]])
    dist = np.array([[10.0, 60.0, 150.0, 500.0]])
    m = map_metrics(pred, true, valid, los, dist)
    assert m["all"]["count"] == 3
    assert m["all"]["bias_db"] == pytest.approx(4.0 / 3)
    assert m["all"]["mae_db"] == pytest.approx(8.0 / 3)
    assert m["all"]["rmse_db"] == pytest.approx(math.sqrt(24.0 / 3))
    assert m["los"]["rmse_db"] == pytest.approx(2.0) and m["nlos"]["count"] == 1
    assert m["distance"]["[0, 50) m"]["bias_db"] == pytest.approx(2.0)
    assert m["distance"]["[50, 100) m"]["bias_db"] == pytest.approx(-2.0)
    assert m["distance"]["[400, inf) m"]["count"] == 0  # the invalid cell is not counted
    assert m["path_gain"]["[-140, -120) dB"]["mae_db"] == pytest.approx(4.0)
    # NMSE of the linear gain is dominated by the strongest cell (-60 dB, +2 dB).
    expected = (
        (10**-5.8 - 10**-6) ** 2 + (10**-9.2 - 10**-9) ** 2 + (10**-12.6 - 10**-13) ** 2
    ) / (10**-12 + 10**-18 + 10**-26)
    assert m["all"]["nmse_db"] == pytest.approx(10 * math.log10(expected), abs=1e-6)
    assert map_metrics(true, true, valid)["all"]["nmse_db"] == -math.inf


def test_bias_by_prediction_bin_tells_a_calibrated_model_from_a_biased_one():
    # labels scatter 8 dB around an unbiased prediction: binned by the label the weakest bin
    # looks ~+8 dB too strong (regression to the mean), binned by the prediction it is not
    rng = np.random.default_rng(0)
    pred = rng.uniform(-135.0, -85.0, 200_000)
    true = pred + rng.normal(0.0, 8.0, pred.size)
    m = map_metrics(pred, true, np.ones(pred.size, bool))
    assert m["path_gain"]["[-inf, -140) dB"]["bias_db"] > 5.0
    for name, row in m["predicted_path_gain"].items():
        if row["count"]:
            assert abs(row["bias_db"]) < 0.2, name
    biased = map_metrics(pred + 4.0, true, np.ones(pred.size, bool))
    assert biased["predicted_path_gain"]["[-120, -100) dB"]["bias_db"] == pytest.approx(
        4.0, abs=0.2
    )


def test_floor_clipping_and_streaming():
    acc = MetricAccumulator(floor_db=-140.0)
    true = np.array([-150.0, -100.0])
    acc.update(np.array([-170.0, -100.0]), true, np.array([True, True]))
    acc.update(np.array([-130.0]), np.array([-150.0]), np.array([True]))
    m = acc.result()
    assert m["all"]["count"] == 3
    assert m["all"]["rmse_db"] == pytest.approx(math.sqrt(100.0 / 3))  # only -130 vs floor -140
    assert "los" not in m and "distance" not in m


def test_evaluate_network_reports_metrics_and_time():
    net = build_network("cnn", 2, depth=2, width=4)
    scaling = OutputScaling()
    x = torch.randn(3, 2, 16, 16)
    target = torch.full((3, 1, 16, 16), -100.0)
    mask = torch.rand(3, 1, 16, 16) > 0.3
    los = torch.rand(3, 1, 16, 16) > 0.5
    report = evaluate_network(
        net, [(x[:2], target[:2], mask[:2], los[:2], None), (x[2:], target[2:], mask[2:])], scaling
    )
    assert report["maps"] == 3 and math.isfinite(report["ms_per_map"])
    assert report["all"]["count"] == int(mask.sum())
    with torch.no_grad():
        pred_db = scaling.to_db(net(x)).numpy()
    expected = np.sqrt(np.mean((np.maximum(pred_db, -160.0) - -100.0)[mask.numpy()] ** 2))
    assert report["all"]["rmse_db"] == pytest.approx(expected, rel=1e-5)
    assert report["los"]["count"] + report["nlos"]["count"] == int(mask[:2].sum())


class _Paced(torch.nn.Module):
    """A network that takes a known time per forward pass: the timers must measure it."""

    def __init__(self, net: torch.nn.Module, seconds: float):
        super().__init__()
        self.net, self.seconds = net, seconds

    def forward(self, x):
        time.sleep(self.seconds)
        return self.net(x)


def test_timings_measure_the_forward_passes():
    net = _Paced(build_network("cnn", 2, depth=2, width=4), 0.05)
    x = torch.randn(3, 2, 16, 16)
    target = torch.full((3, 1, 16, 16), -100.0)
    mask = torch.ones(3, 1, 16, 16, dtype=torch.bool)
    report = evaluate_network(
        net, [(x[:2], target[:2], mask[:2]), (x[2:], target[2:], mask[2:])], OutputScaling()
    )
    assert 2 * 50.0 / 3 <= report["ms_per_map"] < 2 * 50.0 / 3 + 25.0  # two passes, three maps
    per_map = time_inference(net, 2, 32, batch=2, repeats=3)
    assert 25.0 <= per_map < 25.0 + 25.0  # 50 ms per pass of 2 maps
