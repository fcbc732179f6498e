"""Deep coverage networks (papers 000 and 002) trained on our own ray-traced maps.

* architectures by name: :func:`build_network`, :func:`list_architectures`
  (``cnn``, ``unet``, ``inception_unet``, ``radiounet``, ``pmnet``, ``unet_dcn``);
* weights files with metadata and SHA-256 verification: :func:`save_weights`,
  :func:`load_weights`, :func:`make_metadata`;
* a trained network as a path-gain model for the prediction engine: :class:`NetworkModel`;
* training: :class:`MapSample` (:func:`samples_from_dataset` for a loaded dataset split,
  :func:`map_sample_from_arrays` for raw arrays),
  :class:`MapBatches` (augmentation + channels),
  :func:`train`, :class:`TrainConfig`; evaluation: :func:`evaluate_network`, :func:`map_metrics`.

Importing this package imports torch; the rest of radiomap-geo does not need it.
"""

from radiomap_geo.nets.augment import (
    MapBatches,
    MapSample,
    map_sample_from_arrays,
    samples_from_dataset,
    transform_sample,
)
from radiomap_geo.nets.evaluate import (
    MetricAccumulator,
    evaluate_network,
    map_metrics,
    time_inference,
)
from radiomap_geo.nets.model import NetworkModel
from radiomap_geo.nets.registry import (
    DEFAULT_CHANNELS,
    build_network,
    describe_architectures,
    list_architectures,
)
from radiomap_geo.nets.scaling import OutputScaling
from radiomap_geo.nets.train import TrainConfig, TrainResult, masked_loss, train
from radiomap_geo.nets.weights import LoadedWeights, load_weights, make_metadata, save_weights

__all__ = [
    "DEFAULT_CHANNELS",
    "LoadedWeights",
    "MapBatches",
    "MapSample",
    "MetricAccumulator",
    "NetworkModel",
    "OutputScaling",
    "TrainConfig",
    "TrainResult",
    "build_network",
    "describe_architectures",
    "evaluate_network",
    "list_architectures",
    "load_weights",
    "make_metadata",
    "map_metrics",
    "map_sample_from_arrays",
    "masked_loss",
    "samples_from_dataset",
    "save_weights",
    "time_inference",
    "train",
    "transform_sample",
]
