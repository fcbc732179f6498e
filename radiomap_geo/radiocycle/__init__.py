"""RadioCycle (paper 001, issue #13): the building map and the radio map from RSRP samples.

* :mod:`~radiomap_geo.radiocycle.networks`: F (ResUNet) and G (U-Net), InterpolationNet;
* :mod:`~radiomap_geo.radiocycle.dwa`: dynamic weight averaging (formula and temperature);
* :mod:`~radiomap_geo.radiocycle.data`: dataset maps, sampled measurements, input encodings;
* :mod:`~radiomap_geo.radiocycle.train` / ``ship``: joint training with the dual losses;
* :mod:`~radiomap_geo.radiocycle.evaluate`: scores against the sampling rate;
* :mod:`~radiomap_geo.radiocycle.infer` / ``outputs``: ``infer-buildings`` (raster, polygons);
* :mod:`~radiomap_geo.radiocycle.coverage`: ``predict --measurement-model radiocycle`` (no
  building layer needed; ``building_disagreement`` against one that is given);
* :mod:`~radiomap_geo.radiocycle.weights`: shipped weights in ``weights/radiocycle``.

Submodules import torch; this package file imports nothing heavy.
"""
