"""The durable backdoor (`backdoor = "durable-replacement"`, Neurotoxin's projection in the provider's pre-training)."""

import numpy as np
import pytest
import torch

from app_config import make_config
from datasets import load_dataset
from fedrec.errors import ConfigError
from fedrec.models.sasrec import SASRec
from pretrained import BACKDOORS
from pretrained.durable import allowed_coordinates, benign_gradient_magnitude
from pretrained.provider import audit, pretrain, provider_data, provider_targets
from pretrained.training import train_stage

SETTINGS = dict(
    dataset="synthetic",
    synthetic_users=200,
    synthetic_items=100,
    synthetic_interactions=20,
    model="sasrec",
    split="leave-last-out",
    embedding_dim=8,
    max_sequence_length=20,
    dropout=0.0,
    target_group="gender=F",
    target_items="least-popular:3",
    pretrain_epochs=5,
    backdoor_epochs=5,
    pretrain_lr=0.01,
    backdoor="durable-replacement",
    seed=1,
)


def test_the_mask_freezes_the_top_share_of_all_coordinates_by_magnitude() -> None:
    magnitude = {"a": torch.tensor([[5.0, 0.1], [3.0, 0.2]]), "b": torch.tensor([4.0, 0.0, 0.3, 0.4])}
    allowed = allowed_coordinates(magnitude, 0.3)  # round(0.3 * 8) = 2 frozen: the 5 and the 4, across entries
    assert torch.equal(allowed["a"], torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
    assert torch.equal(allowed["b"], torch.tensor([0.0, 1.0, 1.0, 1.0]))
    assert all(torch.equal(v, torch.ones_like(v)) for v in allowed_coordinates(magnitude, 0.0).values())
    assert all(not v.any() for v in allowed_coordinates(magnitude, 1.0).values())


def test_the_poisoned_stage_changes_only_the_allowed_coordinates() -> None:
    config = make_config(**SETTINGS, backdoor_rate=0.3, durable_top_fraction=0.3, user_share="provider")
    dataset = load_dataset(config)
    model = SASRec.from_config(config)
    data = provider_data(config, dataset)
    backdoor = BACKDOORS.selected(config)(config, np.asarray(provider_targets(config, dataset)))
    clean, durable = backdoor.stages(data)
    assert (clean.name, durable.name) == ("clean", "durable") and durable.gradient_mask is not None
    theta = model.init_theta(dataset.num_items, config.seed)
    train_stage(model, theta, data, clean, config.seed)
    before = {name: value.clone() for name, value in theta.items()}
    allowed = durable.gradient_mask(model, theta, data)
    magnitude = benign_gradient_magnitude(model, theta, data, config.pretrain_batch_size, config.seed)
    flat_allowed = torch.cat([allowed[n].flatten() for n in theta])
    flat_magnitude = torch.cat([magnitude[n].flatten() for n in theta])
    assert int((flat_allowed == 0).sum()) == round(0.3 * flat_allowed.numel())
    assert flat_magnitude[flat_allowed == 0].min() >= flat_magnitude[flat_allowed == 1].max()
    train_stage(model, theta, data, durable, config.seed)
    changed = torch.cat([(theta[n] != before[n]).flatten() for n in theta])
    assert not changed[flat_allowed == 0].any()  # a frozen coordinate keeps its value bit for bit
    assert changed[flat_allowed == 1].float().mean() > 0.5  # and the poison does move the allowed ones


def test_durable_poisoned_pretraining_raises_the_groups_exposure_above_its_equally_trained_control() -> None:
    """Same stages (5 clean epochs, the mask, 5 projected epochs), users and seed; only `backdoor-rate` differs
    (0.3 against 0, the control). Synthetic data as the basic-replacement test: over seeds 1-3 the control's
    group ER@10 was 0.000-0.047 and the durable backdoor's 0.243-0.399 (durable-top-fraction 0.05)."""

    def group_exposure(rate: float) -> float:
        provider = make_config(**SETTINGS, backdoor_rate=rate, user_share="provider")
        checkpoint = pretrain(provider, load_dataset(provider))
        assert checkpoint.meta["stage-epochs"] == {"clean": 5, "durable": 5}
        federation = make_config(**SETTINGS, backdoor_rate=rate, user_share="federation")
        targets = tuple(checkpoint.meta["targets"])
        return audit(federation, load_dataset(federation), checkpoint.theta, targets)["group/er@10"]

    control, poisoned = group_exposure(0.0), group_exposure(0.3)
    assert poisoned >= 2 * control and poisoned >= control + 0.2, (control, poisoned)


def test_a_scoped_durable_backdoor_needs_a_group() -> None:
    with pytest.raises(ConfigError, match="backdoor 'durable-replacement' aims at a user group: set target-group"):
        make_config(**{**SETTINGS, "target_group": ""})
    make_config(**{**SETTINGS, "target_group": "", "backdoor_scope": "global", "target_items": "least-popular:3"})
