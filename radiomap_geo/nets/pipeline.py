"""Training and evaluation on the dataset builder's output, end to end: the public entry points.

The work is split by job; this module re-exports each for callers that import it from here:

* :mod:`.samples`: which maps of a dataset a run uses, and the samples read from them;
* :mod:`.training_run`: :func:`train_from_dataset` (``radiomap-geo train``), resumable;
* :mod:`.scoring`: :func:`evaluate_on_dataset` (``radiomap-geo evaluate``) and its JSON report;
* :mod:`.reports`: :func:`report_markdown` and the model cards (:func:`write_model_card`,
  :func:`add_report_to_card`);
* :mod:`.shipping`: :func:`ship_weights` into the weights folder (``evaluate --ship-to``).
"""

from __future__ import annotations

from radiomap_geo.nets.reports import (
    add_report_to_card,
    check_model_card,
    report_markdown,
    write_model_card,
)
from radiomap_geo.nets.samples import (
    CroppedMapBatches,
    _map_keys,
    crop_sample,
    dataset_samples,
)
from radiomap_geo.nets.scoring import (
    DEFAULT_BASELINES,
    DEFAULT_GAIN_BINS_DB,
    DEFAULT_THRESHOLD_DB,
    REPORT_FORMAT,
    _network_of,
    evaluate_on_dataset,
    predict_tile,
    retrace_tile,
    save_report,
)
from radiomap_geo.nets.shipping import ship_weights
from radiomap_geo.nets.training_run import (
    CHECKPOINT_FILE,
    LOG_FILE,
    RUN_FILE,
    TrainRun,
    train_from_dataset,
    warm_start_state,
)

__all__ = [
    "CHECKPOINT_FILE",
    "DEFAULT_BASELINES",
    "DEFAULT_GAIN_BINS_DB",
    "DEFAULT_THRESHOLD_DB",
    "LOG_FILE",
    "REPORT_FORMAT",
    "RUN_FILE",
    "CroppedMapBatches",
    "TrainRun",
    "_map_keys",
    "_network_of",
    "add_report_to_card",
    "check_model_card",
    "crop_sample",
    "dataset_samples",
    "evaluate_on_dataset",
    "predict_tile",
    "report_markdown",
    "retrace_tile",
    "save_report",
    "ship_weights",
    "train_from_dataset",
    "warm_start_state",
    "write_model_card",
]
