import numpy as np
import pytest

from radiomap_geo.errors import InputError
from radiomap_geo.sparse.networks import NETWORKS
from radiomap_geo.sparse.train import SparseTrainConfig, train_network

from .helpers import street_map


@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_network_trains_with_falling_loss(name):
    contexts = [street_map(64, seed=s, index=s) for s in range(3)]
    config = SparseTrainConfig(steps=12, batch_size=4, crop=32, lr=2e-3, same_batch=True)
    result = train_network(name, contexts, config)
    l1 = [h["l1_db"] for h in result.history]
    assert result.finished and len(l1) == 12
    assert np.mean(l1[-3:]) < 0.7 * np.mean(l1[:3])


def test_training_resumes_from_its_checkpoint(tmp_path):
    contexts = [street_map(64)]
    path = tmp_path / "ck.pt"
    config = SparseTrainConfig(steps=4, batch_size=2, crop=32, checkpoint_every=2)
    first = train_network(
        "eme-net", contexts, SparseTrainConfig(**{**config.__dict__, "steps": 2}), checkpoint=path
    )
    assert first.step == 2 and path.is_file()
    second = train_network("eme-net", contexts, config, checkpoint=path)
    assert second.step == 4 and len(second.history) == 4
    assert second.history[:2] == first.history
    with pytest.raises(InputError, match="belongs to 'eme-net'"):
        train_network("emgan", contexts, config, checkpoint=path)


def test_unknown_network_is_refused():
    with pytest.raises(InputError, match="available: interpolation-net"):
        train_network("nope", [street_map()])
