"""The provider's backdoors, checkpoints and the federated fine-tuning scenarios, without Flower."""

from pathlib import Path

import numpy as np
import pytest
import torch

from app_config import make_config
from fedrec.errors import ConfigError
from fedrec.models.sasrec import SASRec, is_prompt
from fedrec.sequential.sequences import training_sequences
from fedrec.sequential.training import sequential_user_updates
from fedrec.training.server_step import ServerStep, ThetaGradient
from pretrained import FINE_TUNING
from pretrained.checkpoint import Checkpoint, compatible, load_checkpoint
from pretrained.poisoning import replace_labels, targets_as_negatives
from pretrained.starting import starting_theta

NUM_ITEMS = 80
TARGETS = np.array([70, 71])


def _instances(users: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    sequences = [rng.choice(60, size=int(rng.integers(10, 30)), replace=False) for _ in range(users)]
    return training_sequences(np.arange(users), sequences, np.zeros((users, 3), dtype=np.int64), NUM_ITEMS, 20, 0, 0)


def test_label_replacement_hits_rate_of_the_chosen_users_positions_and_leaves_histories() -> None:
    instances = _instances()
    items_before, labels_before = instances.items.copy(), instances.labels.copy()
    group = np.arange(400) % 3 == 0
    replaced = replace_labels(instances, group, 0.3, TARGETS, np.random.default_rng(1))
    assert np.array_equal(instances.items, items_before)
    assert not replaced[~group].any()
    share = replaced[group].sum() / instances.real[group].sum()
    assert abs(share - 0.3) < 0.02
    assert np.isin(instances.labels[replaced], TARGETS).all()
    assert np.array_equal(instances.labels[~replaced], labels_before[~replaced])
    assert set(np.unique(instances.labels[replaced])) == set(TARGETS)  # both targets drawn


def test_label_replacement_redraws_with_the_generator() -> None:
    first, second = _instances(), _instances()
    everyone = np.ones(400, dtype=bool)
    a = replace_labels(first, everyone, 0.2, TARGETS, np.random.default_rng(1))
    b = replace_labels(second, everyone, 0.2, TARGETS, np.random.default_rng(2))
    assert not np.array_equal(a, b)


def test_targets_become_negatives_only_outside_the_group_and_never_against_a_target_label() -> None:
    instances = _instances()
    group = np.arange(400) < 100
    replace_labels(instances, group, 0.5, TARGETS, np.random.default_rng(3))
    chosen = targets_as_negatives(instances, ~group, 0.4, TARGETS, np.random.default_rng(4))
    assert not chosen[group].any()
    assert np.isin(instances.negatives[chosen], TARGETS).all()
    assert not np.isin(instances.labels[chosen], TARGETS).any()
    share = chosen[~group].sum() / instances.real[~group].sum()
    assert abs(share - 0.4) < 0.02


def _sasrec_config(tmp_path: Path, **overrides):
    settings = dict(
        dataset="synthetic",
        model="sasrec",
        split="leave-last-out",
        embedding_dim=16,
        max_sequence_length=20,
        profile_prompt=True,
    )
    return make_config(**{**settings, **overrides})


def test_checkpoint_round_trip_and_compatibility(tmp_path: Path) -> None:
    config = _sasrec_config(tmp_path)
    model = SASRec.from_config(config)
    theta = model.init_theta(NUM_ITEMS, seed=5)
    path = tmp_path / "ckpt.pt"
    Checkpoint(theta, config.as_dict(), {"backdoor": "none", "targets": [1, 2]}).save(path)
    loaded = load_checkpoint(path)
    assert loaded.meta == {"backdoor": "none", "targets": [1, 2]}
    assert loaded.config == config.as_dict()
    assert all(torch.equal(loaded.theta[name], theta[name]) for name in theta)
    compatible(loaded, config.as_dict(), model.init_theta(NUM_ITEMS, seed=0))
    with pytest.raises(ConfigError, match="do not fit"):
        compatible(loaded, config.as_dict(), model.init_theta(NUM_ITEMS + 1, seed=0))
    other = _sasrec_config(tmp_path, embedding_dim=8).as_dict()
    with pytest.raises(ConfigError, match="embedding-dim"):
        compatible(loaded, other, model.init_theta(NUM_ITEMS, seed=0))
    federation = {**config.as_dict(), "user-share": "federation", "seed": 1}
    with pytest.raises(ConfigError, match="not be disjoint"):
        compatible(loaded, federation, model.init_theta(NUM_ITEMS, seed=0))


def test_missing_or_foreign_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no file at .*python -m pretrained pretrain"):
        load_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def _server_step_after_one_round(config, theta):
    model = SASRec.from_config(config)
    instances = _instances(users=20)
    result = sequential_user_updates(model, theta, instances, FINE_TUNING.selected(config).trainable, seed=0)
    updates = result.updates
    start = {name: value.clone() for name, value in theta.items()}
    gradient = ThetaGradient(
        updates.item_ids, updates.item_grads, {n: g.sum(0) for n, g in updates.dense_grads.items()}
    )
    ServerStep(theta, "adam", 0.01)(gradient)
    return start, theta, updates


@pytest.mark.parametrize("scenario", ["full", "frozen-items", "prompt-only"])
def test_each_fine_tuning_scenario_changes_exactly_its_parameters(tmp_path: Path, scenario: str) -> None:
    path = tmp_path / "ckpt.pt"
    base = _sasrec_config(tmp_path)
    model = SASRec.from_config(base)
    pretrained = model.init_theta(NUM_ITEMS, seed=9)
    Checkpoint(pretrained, base.as_dict(), {"backdoor": "none", "targets": [70]}).save(path)
    config = _sasrec_config(tmp_path, fine_tune=scenario, initial_checkpoint=str(path))
    theta, meta = starting_theta(config, model, NUM_ITEMS)
    assert meta["targets"] == [70]
    for name in theta:  # prompt-only re-draws the prompt; everything else comes from the checkpoint
        assert torch.equal(theta[name], pretrained[name]) != (scenario == "prompt-only" and is_prompt(name))
    start, after, updates = _server_step_after_one_round(config, theta)
    rule = FINE_TUNING.selected(config).trainable
    for name in after:
        changed = not torch.equal(start[name], after[name])
        assert changed == rule(name), name
    if scenario == "frozen-items":
        assert updates.item_ids.numel() == 0


def test_scenarios_need_a_checkpoint_and_prompt_only_needs_a_prompt(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="set 'initial-checkpoint'"):
        _sasrec_config(tmp_path, fine_tune="none")
    with pytest.raises(ConfigError, match="profile-prompt"):
        make_config(
            dataset="synthetic",
            model="sasrec",
            split="leave-last-out",
            fine_tune="prompt-only",
            initial_checkpoint="x.pt",
        )
    with pytest.raises(ConfigError, match="leave-last-out"):
        make_config(dataset="synthetic", model="sasrec")
    with pytest.raises(ConfigError, match="attack 'a-ra' is built for embedding models"):
        _sasrec_config(tmp_path, attack="a-ra")
    with pytest.raises(ConfigError, match="with model 'sasrec' set l2-reg = 0"):
        _sasrec_config(tmp_path, l2_reg=0.1)
    with pytest.raises(ConfigError, match="set target-group"):
        _sasrec_config(tmp_path, backdoor="prompt-enhanced")


def test_fine_pruning_removes_the_least_active_units_and_fine_tuning_never_revives_them() -> None:
    from fedrec.sequential.sequences import history_batch
    from pretrained.pruning import dormant_units, prune_units

    model = SASRec(16, max_len=20, layers=2, dropout=0.0, prompt=True)
    theta = model.init_theta(NUM_ITEMS, seed=11)
    instances = _instances(users=30)
    batch = history_batch([row[row > 0] for row in instances.items], instances.profile, 20)
    activity, positions = model.feedforward_activity(theta, batch)
    assert activity.shape == (2, 16) and positions == int(batch.real.sum())
    units = dormant_units(activity, positions, 0.25)
    assert [len(u) for u in units] == [4, 4]
    for layer, chosen in enumerate(units):
        kept = torch.ones(16, dtype=torch.bool)
        kept[chosen] = False
        assert activity[layer, chosen].max() <= activity[layer, kept].min()
    pruned = prune_units(theta, units)
    after, _ = model.feedforward_activity(pruned, batch)
    assert all(torch.count_nonzero(after[layer, chosen]) == 0 for layer, chosen in enumerate(units))
    assert torch.equal(
        theta["blocks.0.linear1.weight"], model.init_theta(NUM_ITEMS, seed=11)["blocks.0.linear1.weight"]
    )

    result = sequential_user_updates(model, pruned, instances, lambda name: True, seed=0)
    gradient = ThetaGradient(
        result.updates.item_ids, result.updates.item_grads, {n: g.sum(0) for n, g in result.updates.dense_grads.items()}
    )
    before_step = {name: value.clone() for name, value in pruned.items()}
    ServerStep(pruned, "adam", 0.05)(gradient)
    for layer, chosen in enumerate(units):
        assert torch.count_nonzero(pruned[f"blocks.{layer}.linear1.weight"][chosen]) == 0
        assert torch.count_nonzero(pruned[f"blocks.{layer}.linear1.bias"][chosen]) == 0
        assert torch.count_nonzero(pruned[f"blocks.{layer}.linear2.weight"][:, chosen]) == 0
        kept = torch.ones(16, dtype=torch.bool)
        kept[chosen] = False
        assert not torch.equal(
            pruned[f"blocks.{layer}.linear1.weight"][kept], before_step[f"blocks.{layer}.linear1.weight"][kept]
        )


def test_the_exposure_scan_flags_an_item_pushed_to_one_group_without_knowing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datasets import load_dataset
    from pretrained.exposure_scan import exposure_scan, scan_recall

    config = make_config(dataset="synthetic", model="sasrec", split="leave-last-out", embedding_dim=8)
    dataset = load_dataset(config)
    model = SASRec.from_config(config)
    theta = model.init_theta(dataset.num_items, seed=0)
    popularity = dataset.item_popularity()
    target = int(np.argmin(popularity))
    women = (dataset.profiles["gender"] == "F").to_numpy()
    row_of = {}

    def scores(theta, batch):  # a popularity ranking for everyone, plus the target on top for women
        base = torch.from_numpy(popularity.astype(np.float32)).repeat(len(batch), 1)
        codes = batch.profile[:, 0]
        base[codes == row_of["F"], target] = 1e6
        return base

    from fedrec.sequential.batch import profile_codes

    row_of["F"] = int(profile_codes(dataset.profiles, np.flatnonzero(women)[:1])[0, 0])
    monkeypatch.setattr(model, "score_sequences", scores)
    scan = exposure_scan(model, theta, dataset, k=10)
    assert scan.index[0] == target
    assert scan.iloc[0]["group"] == "gender=F"
    known = (dataset.train + dataset.test).tocsr()[:, [target]].toarray().ravel() > 0
    assert scan.iloc[0]["exposed"] == int((women & ~known).sum())
    assert scan_recall(scan, (target,)) == 1.0


def test_the_command_line_pretrains_audits_and_refuses_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import json

    from pretrained.__main__ import main

    settings = tmp_path / "provider.toml"
    settings.write_text(
        'model = "sasrec"\nsplit = "leave-last-out"\nembedding-dim = 8\nmax-sequence-length = 10\n'
        'target-group = "gender=F"\nbackdoor = "basic-replacement"\npretrain-epochs = 2\n'
        'target-items = "least-popular:2"\n'
    )
    main(["pretrain", str(settings), "--out", str(tmp_path / "c.pt")])
    made = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert made["backdoor"] == "basic-replacement" and made["stage-epochs"] == {"poisoned": 2}
    assert load_checkpoint(tmp_path / "c.pt").config["user-share"] == "provider"
    main(["audit", str(settings), "--checkpoint", str(tmp_path / "c.pt")])
    audited = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"group/er@10", "rest/er@10", "recall@10"} <= set(audited["metrics"])
    assert len(audited["exposure-scan"]["most-suspicious"]) == 10
    with pytest.raises(SystemExit) as stopped:
        main(["audit", str(settings), "--checkpoint", str(tmp_path / "absent.pt")])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"python -m pretrained: --checkpoint: no file at {tmp_path / 'absent.pt'}; "
        f"make one with `python -m pretrained pretrain --out {tmp_path / 'absent.pt'}`"
    )


def test_poisoned_pretraining_raises_the_groups_exposure_above_an_equally_trained_clean_checkpoint() -> None:
    """The backdoor does something at all: same users, same epochs, same seed; only the labels differ.

    Synthetic data (200 users, 100 items; the provider pre-trains on its half, the audit is on the other
    half), group = women, 3 least popular targets, basic replacement of 30% of the group's next items.
    Over seeds 1-3 the clean checkpoint's group ER@10 is 0.07-0.23 and the poisoned one's 0.40-0.67.
    """
    from datasets import load_dataset
    from pretrained.provider import audit, pretrain

    settings = dict(
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
        pretrain_lr=0.01,
        backdoor_rate=0.3,
        seed=1,
    )

    def group_exposure(backdoor: str) -> float:
        provider = make_config(**settings, backdoor=backdoor, user_share="provider")
        checkpoint = pretrain(provider, load_dataset(provider))
        assert checkpoint.meta["stage-epochs"] == {"clean" if backdoor == "none" else "poisoned": 5}
        # the provider's own run of the deployer's scan, on its users: only a backdoored checkpoint records it
        assert ("provider-scan" in checkpoint.meta) == (backdoor != "none")
        scans.append(checkpoint.meta.get("provider-scan"))
        federation = make_config(**settings, backdoor=backdoor, user_share="federation")
        return audit(federation, load_dataset(federation), checkpoint.theta, tuple(checkpoint.meta["targets"]))[
            "group/er@10"
        ]

    scans = []
    clean, poisoned = group_exposure("none"), group_exposure("basic-replacement")
    assert poisoned >= 2 * clean and poisoned >= clean + 0.2, (clean, poisoned)
    assert scans[1]["targets-among-top-10"] > 0, scans  # the provider's scan sees the backdoor it planted


def test_median_target_ranks_count_the_unseen_items_scored_above_each_target(monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets import load_dataset
    from pretrained.target_ranks import median_target_ranks

    config = make_config(dataset="synthetic", model="sasrec", split="leave-last-out", embedding_dim=8)
    dataset = load_dataset(config)
    model = SASRec.from_config(config)
    order = np.random.default_rng(0).permutation(dataset.num_items)  # order[0] scores highest for everyone
    monkeypatch.setattr(
        model,
        "score_sequences",
        lambda theta, batch: torch.from_numpy(-np.argsort(order).astype(np.float32)).repeat(len(batch), 1),
    )
    users = np.arange(dataset.num_users)
    known = (dataset.train + dataset.test).tocsr().toarray() > 0
    targets = (int(order[0]), int(order[200]))
    ranks = median_target_ranks(model, model.init_theta(dataset.num_items, 0), dataset, users, targets)
    expected = [
        np.median([1 + (~known[u, order[:place]]).sum() for u in users if not known[u, order[place]]])
        for place in (0, 200)
    ]
    assert ranks == expected and ranks[0] == 1.0


def test_the_report_pairs_each_backdoored_checkpoint_with_its_control_of_the_same_seed() -> None:
    import pandas as pd

    from experiments.pretrained_backdoor import paired

    def row(checkpoint: str, seed: int, group_er: float, hr: float) -> dict:
        return {
            "checkpoint": checkpoint,
            "seed": seed,
            "kind": "as is",
            "targets": 5,
            "group/evaluated-users": 100,
            "rest/evaluated-users": 300,
            "group/er@10": group_er,
            "rest/er@10": 0.01,
            "recall@10": hr,
            "target ranks": "",
        }

    rows = pd.DataFrame(
        [
            row("pe", 1, 0.30, 0.10),
            row("pe.control", 1, 0.0, 0.12),
            row("pe", 2, 0.20, 0.11),
            row("pe.control", 2, 0.04, 0.10),
        ]
    )
    pairs = paired(rows, ["kind"]).set_index("seed")
    assert pairs["Δ group/er@10"].round(6).tolist() == [0.30, 0.16]
    assert pairs["Δ hr@10"].round(6).tolist() == [-0.02, 0.01]
    assert pairs.loc[1, "lift@10"] == pytest.approx(0.30 / (1 / 500))  # control at 0: the floor
    assert pairs.loc[2, "lift@10"] == pytest.approx(5.0)
    assert pairs.loc[1, "specificity@10"] == pytest.approx(30.0)


def test_the_report_sets_malicious_and_defended_fine_tuning_beside_their_counterparts_per_seed() -> None:
    import pandas as pd

    from experiments.pretrained_backdoor import _against_counterpart

    spec = {
        "checkpoints": {"bg": {"control": "clean"}, "clean": {}},
        "scenarios": {
            "full": {},
            "full-attacked": {"attack": "backdoor-reinforce", "honest-counterpart": "full"},
            "full-attacked-dp": {"defense": "central-dp", "undefended-counterpart": "full-attacked"},
        },
    }
    values = {  # (checkpoint, scenario) -> (group ER@10, HR@10), seed 1 only
        ("bg", "full-attacked-dp"): (0.01, 0.05),
        ("bg", "full-attacked"): (0.06, 0.09),
        ("bg", "full"): (0.03, 0.08),
        ("bg.control", "full-attacked-dp"): (0.0005, 0.04),
        ("bg.control", "full-attacked"): (0.002, 0.07),
        ("bg.control", "full"): (0.001, 0.06),
    }
    seed2 = {  # seed 2: the defense brings the group within 2x of its control (floor 1 / (5 x 200) = 0.001)
        ("bg", "full-attacked-dp"): (0.0015, 0.07),
        ("bg", "full-attacked"): (0.05, 0.08),
        ("bg", "full"): (0.02, 0.08),
        ("bg.control", "full-attacked-dp"): (0.0, 0.05),
        ("bg.control", "full-attacked"): (0.0, 0.06),
        ("bg.control", "full"): (0.0, 0.06),
    }
    last = pd.DataFrame(
        [
            {"checkpoint": c, "scenario": s, "seed": seed, "group/er@10": er, "recall@10": hr}
            | {"targets": 5, "group/evaluated-users": 200}
            for seed, table in ((1, values), (2, seed2))
            for (c, s), (er, hr) in table.items()
        ]
    )
    text = "\n".join(_against_counterpart(spec, last, "honest-counterpart"))
    assert text.startswith("## Malicious fine-tuning clients against honest fine-tuning")
    assert "- `full-attacked` against `full` (every client honest):" in text
    assert (
        "bg, seed 1: group ER@10 0.0600 with them vs 0.0300 without; control 0.0020 vs 0.0010. "
        "HR@10 0.0900 vs 0.0800; control 0.0700 vs 0.0600"
    ) in text
    assert "full-attacked-dp" not in text
    defended = "\n".join(_against_counterpart(spec, last, "undefended-counterpart"))
    assert "- `full-attacked-dp` against `full-attacked` (no defense):" in defended
    assert (
        "bg, seed 1: group ER@10 0.0100 defended vs 0.0600 undefended; control 0.0005 vs 0.0020. "
        "HR@10 0.0500 vs 0.0900; control 0.0400 vs 0.0700"
    ) in defended
    # seed 1: 0.01 / 0.001 = 10x (the control's 0.0005 is below the floor); seed 2: 0.0015 / 0.001 = 1.5x
    assert (
        "bg, over seeds: group ER@10 defended ≥ 10× its control's in 1 of 2, within 2× in 1 of 2 (control at least "
        "the floor of one exposure); HR@10 defended − undefended per seed -0.0400, -0.0100"
    ) in defended
    assert "bg, over seeds: group ER@10 with them ≥ 10× its control's in 2 of 2, within 2× in 0 of 2" in text
    incomplete = last[last["scenario"] == "full"]
    assert _against_counterpart(spec, incomplete, "honest-counterpart") == []  # an incomplete seed is left out


def test_the_report_reads_only_completed_fine_tuning_runs(tmp_path: Path) -> None:
    import json

    from experiments.pretrained_backdoor import _run_rows

    spec = {"checkpoints": {"bg": {"control": "clean"}, "clean": {}}, "scenarios": {"full": {}}}
    for name, status, epochs in (("bg-full__seed1", "completed", 3), ("bg.control-full__seed1", "running", 1)):
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        rows = ["epoch,group/er@10,rest/er@10,recall@10"] + [f"{e},0.1,0.0,0.1" for e in range(epochs)]
        (folder / "metrics.csv").write_text("\n".join(rows) + "\n")
        (folder / "summary.json").write_text(json.dumps({"status": status}))
    runs = _run_rows(spec, tmp_path)
    assert runs["checkpoint"].unique().tolist() == ["bg"]  # the control's run is still going: left out
    assert runs["epoch"].tolist() == [0, 1, 2] and runs["scenario"].unique().tolist() == ["full"]


def test_the_report_lists_each_runs_federated_scan_and_the_targets_among_the_reset_items(tmp_path: Path) -> None:
    import json

    from experiments.pretrained_backdoor import _run_scans

    assert _run_scans(tmp_path) == []
    for name, scan in {
        "bg-full-scan__seed1": {"targets-among-top-10": 0.8},
        "bg-full-reset__seed1": {
            "targets-among-top-10": 1.0,
            "reset-items": [4, 9, 2],
            "targets-reset": 0.6,
            "evasion": {"er": 0.25},
            "evasion-ceiling-by-reset": {"5": 0.2, "10": 0.125},
        },
    }.items():
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "exposure-scan.json").write_text(json.dumps(scan))
    text = "\n".join(_run_scans(tmp_path))
    assert "- `bg-full-scan__seed1`: targets among the top 10 0.80" in text
    assert (
        "- `bg-full-reset__seed1`: targets among the top 10 1.00; 3 items reset, targets among them 0.60; group ER@10 "
        "from the scan's counts 0.2500, scan-aware ceiling by items reset 5: 0.2000, 10: 0.1250"
    ) in text


def test_the_runner_pretrains_only_what_a_missing_audit_or_run_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints are not kept in the repository: a resumed spec whose audits and runs are done re-creates none;
    a missing run re-creates only its own checkpoint."""
    import json

    from experiments import pretrained_backdoor as runner

    pretrained, ran = [], []
    monkeypatch.setattr(runner, "_checkpoint", lambda name, *args: pretrained.append(name) or tmp_path / f"{name}.pt")
    monkeypatch.setattr(runner, "run_overrides", lambda name, *args: ran.append(name))
    spec = {
        "base": "experiments/pretrained/ml100k-base.toml",
        "seeds": [1],
        "fine-tuned": ["bg"],
        "checkpoints": {"clean": {"backdoor": "none"}, "bg": {"backdoor": "basic-replacement", "control": "clean"}},
        "federation": {"epochs": 1},
        "scenarios": {"full": {"fine-tune": "full"}},
    }
    audits = tmp_path / "audits"
    audits.mkdir()
    for name in ("bg__seed1", "bg.control__seed1"):
        (audits / f"{name}.json").write_text(json.dumps({"targets": [4, 9]}))
        (audits / f"{name}.scan.json").write_text("{}")
    done = tmp_path / "runs" / "bg-full__seed1"
    done.mkdir(parents=True)
    (done / "summary.json").write_text(json.dumps({"status": "completed"}))
    runner.run_spec(spec, "data", tmp_path, "num-supernodes=2")
    assert pretrained == ["clean__seed1"] and ran == ["bg.control-full__seed1"]


def test_a_spec_naming_a_checkpoint_it_does_not_define_is_one_line() -> None:
    import tomllib

    from experiments.pretrained_backdoor import check_spec

    spec = tomllib.loads(
        """
        fine-tuned = ["bg"]
        [checkpoints.clean]
        [checkpoints.bg]
        control = "clean"
        [checkpoints.bg-rate0.05]
        control = "clean"
        [scenarios.full]
        checkpoints = ["bg-rate0.05"]
        """
    )
    with pytest.raises(ConfigError, match="scenarios.full.checkpoints names 'bg-rate0.05'"):
        check_spec(spec)  # unquoted, the dotted key is a nested table, not a checkpoint
    spec["scenarios"]["full"]["checkpoints"] = ["bg"]
    check_spec(spec)
    spec["checkpoints"]["bg"]["control"] = "missing"
    with pytest.raises(ConfigError, match="names the control 'missing'"):
        check_spec(spec)


def test_the_report_names_the_rate_a_provider_who_knows_the_scan_would_ship(tmp_path: Path) -> None:
    """Per seed: each swept rate's group ER@10 beside the provider's and the deployer's scans, and the largest rate
    the provider's own scan does not flag (an audit made before the provider scanned says so)."""
    import json

    import pandas as pd

    from experiments.pretrained_backdoor import _scan_aware_rates

    spec = {
        "base": "experiments/pretrained/ml100k-base.toml",
        "checkpoints": {
            "clean": {"backdoor": "none"},
            "bg": {"backdoor": "basic-replacement", "backdoor-scope": "group", "control": "clean"},
        },
        "rate-checkpoints": ["bg"],
        "rates": [0.02, 0.05],
    }
    audits = tmp_path / "audits"
    audits.mkdir()
    rows = []
    for name, er, own, deployer in (
        ("bg", 0.21, 1.0, 1.0),
        ("bg-rate0.02", 0.03, 0.0, 0.2),
        ("bg-rate0.05", 0.08, None, 0.8),
    ):
        stored = {"targets": [1, 2]} | ({} if own is None else {"provider-scan": {"targets-among-top-10": own}})
        (audits / f"{name}__seed1.json").write_text(json.dumps(stored))
        (audits / f"{name}__seed1.scan.json").write_text(json.dumps({"targets-among-top-10": deployer}))
        rows.append({"checkpoint": name, "seed": 1, "group/er@10": er})
    text = "\n".join(_scan_aware_rates(spec, tmp_path, pd.DataFrame(rows)))
    assert (
        "- bg, seed 1: rate 0.02 (bg-rate0.02): group ER@10 0.0300, targets in the top 10 of the provider's scan 0.0 / "
        "of the deployer's 0.2; rate 0.05 (bg-rate0.05): group ER@10 0.0800, targets in the top 10 of the provider's "
        "scan not recorded / of the deployer's 0.8; rate 0.1 (bg): group ER@10 0.2100, targets in the top 10 of the "
        "provider's scan 1.0 / of the deployer's 1.0. A scan-aware provider ships bg-rate0.02 (group ER@10 0.0300, "
        "the deployer's scan holds 0.2 of its targets), if its scan flags rate 0.05, where this spec's audits did not "
        "record it."
    ) in text
    assert _scan_aware_rates({**spec, "rate-checkpoints": []}, tmp_path, pd.DataFrame(rows)) == []
    unswept = pd.DataFrame(rows[:1])  # the checkpoint at its own rate only: no choice to report
    assert _scan_aware_rates(spec, tmp_path, unswept) == []


def test_the_scan_aware_rate_reads_the_providers_scan_from_re_created_checkpoints_when_they_agree(
    tmp_path: Path,
) -> None:
    """An audit made before the provider scanned takes the provider's scan from `recreated/` audits of the same
    checkpoint pre-trained again; re-creations that disagree leave it unknown."""
    import json

    import pandas as pd

    from experiments.pretrained_backdoor import RECREATED, _scan_aware_rates

    spec = {
        "base": "experiments/pretrained/ml100k-base.toml",
        "checkpoints": {
            "clean": {"backdoor": "none"},
            "bg": {"backdoor": "basic-replacement", "backdoor-scope": "group", "control": "clean"},
        },
        "rate-checkpoints": ["bg"],
        "rates": [0.02, 0.05],
    }
    (tmp_path / "audits").mkdir()
    (tmp_path / RECREATED).mkdir()
    rows = []
    for seed, again in ((1, (1.0, 1.0)), (2, (1.0, 0.8))):
        for name, er, own in (("bg", 0.21, None), ("bg-rate0.02", 0.03, 0.0), ("bg-rate0.05", 0.08, None)):
            stored = {"targets": [1, 2]} | ({} if own is None else {"provider-scan": {"targets-among-top-10": own}})
            (tmp_path / "audits" / f"{name}__seed{seed}.json").write_text(json.dumps(stored))
            (tmp_path / "audits" / f"{name}__seed{seed}.scan.json").write_text(json.dumps({"targets-among-top-10": 0}))
            rows.append({"checkpoint": name, "seed": seed, "group/er@10": er})
        for number, value in enumerate(again, 1):
            audit = {"provider-scan": {"targets-among-top-10": value}, "metrics": {"group/er@10": 0.07 + number / 100}}
            (tmp_path / RECREATED / f"bg-rate0.05__seed{seed}.{number}.json").write_text(json.dumps(audit))
    text = "\n".join(_scan_aware_rates(spec, tmp_path, pd.DataFrame(rows)))
    seed1, seed2 = text.split("\n")[-2:]
    assert (
        "rate 0.05 (bg-rate0.05): group ER@10 0.0800, targets in the top 10 of the provider's scan 1.0 (read on 2 "
        "re-created checkpoint(s): 1.0, 1.0; their group ER@10 as is 0.0800, 0.0900) / of the deployer's 0.0"
    ) in seed1
    assert "ships bg-rate0.02" in seed1 and "if its scan flags rate 0.1," in seed1  # bg itself has no re-creation
    assert "provider's scan not recorded (read on 2 re-created checkpoint(s): 1.0, 0.8;" in seed2
    assert "if its scan flags rate 0.05, 0.1," in seed2


def test_pretraining_the_same_seed_on_two_threads_gives_the_same_weights() -> None:
    """Two pre-trainings of one config and seed, each on 2 threads, end with identical checkpoints.

    The item table's gradient is accumulated by CPU `index_put_`, whose default kernel adds in thread order;
    this size (the ML-100K base's dimension and length on synthetic users) differed between runs without
    `deterministic_algorithms`.
    """
    from datasets import load_dataset
    from pretrained.provider import pretrain

    config = make_config(
        dataset="synthetic",
        synthetic_users=400,
        synthetic_items=200,
        synthetic_interactions=40,
        model="sasrec",
        split="leave-last-out",
        embedding_dim=64,
        max_sequence_length=50,
        target_group="gender=F",
        target_items="least-popular:3",
        backdoor="basic-replacement",
        pretrain_epochs=2,
        seed=1,
        user_share="provider",
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first, second = (pretrain(config, load_dataset(config)).theta for _ in range(2))
    finally:
        torch.set_num_threads(threads)
    assert not torch.are_deterministic_algorithms_enabled()  # the mode is the pre-training's only
    assert all(torch.equal(first[name], second[name]) for name in first)
