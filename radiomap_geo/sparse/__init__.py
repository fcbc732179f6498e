"""Maps from sparse measurements (issue #10): EMGAN, geostatistics and exposure rasters.

* sampling patterns on the ray-traced dataset: :class:`Pattern` (uniform densities, sensor
  counts, street trajectories), :data:`EVALUATION_PATTERNS`;
* baselines (scikit-learn, PyKrige): :data:`BASELINES` (IDW, KNN, random forest, ordinary and
  regression kriging, geometry only);
* networks (paper 001 InterpolationNet, an EME-Net-like CNN, paper 003 EMGAN with and without
  sites, ``emgan-geo``, EMGAN correcting the geometry network, and ``geo-residual``, the default:
  the same correction trained with a squared loss and no GAN): :data:`NETWORKS`,
  :func:`train_network`, :class:`MeasurementModel`, :func:`get_measurement_model`;
* evaluation: :func:`evaluate_measurements`; calibrated uncertainty: :func:`calibrate`;
* prediction: :func:`predict_with_measurements` (``rsrp_std_db`` and ``e_field_vpm`` bands).

Importing this package imports torch.
"""

from radiomap_geo.sparse.baselines import BASELINES
from radiomap_geo.sparse.data import MapContext, load_contexts
from radiomap_geo.sparse.evaluate import evaluate_measurements
from radiomap_geo.sparse.exposure import e_field_vpm
from radiomap_geo.sparse.model import MeasurementModel, get_measurement_model
from radiomap_geo.sparse.networks import NETWORKS
from radiomap_geo.sparse.predict import predict_with_measurements
from radiomap_geo.sparse.sampling import EVALUATION_PATTERNS, Pattern
from radiomap_geo.sparse.train import SparseTrainConfig, train_network
from radiomap_geo.sparse.uncertainty import Calibration, calibrate, interval_coverage

__all__ = [
    "BASELINES",
    "EVALUATION_PATTERNS",
    "NETWORKS",
    "Calibration",
    "MapContext",
    "MeasurementModel",
    "Pattern",
    "SparseTrainConfig",
    "calibrate",
    "e_field_vpm",
    "evaluate_measurements",
    "get_measurement_model",
    "interval_coverage",
    "load_contexts",
    "predict_with_measurements",
    "train_network",
]
