"""Path-gain models: physics baselines and trained networks behind one registry."""

from radiomap_geo.models.base import PathGainModel, SceneInputs
from radiomap_geo.models.registry import get_model, list_models

__all__ = ["PathGainModel", "SceneInputs", "get_model", "list_models"]
