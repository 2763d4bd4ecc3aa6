"""`sampled-candidates`: the sampled metrics' items drawn once per (seed, user) (`fixed`, the default) or anew at
every evaluation, keyed by (seed, epoch, user) (`per-evaluation`, as Spattack's and FedRecAttack's reference code
draw them in their `eval_`)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from flwr.app import MessageType

from app_config import make_config
from client_app.app import app
from fedrec.errors import ConfigError
from fedrec.evaluation.sampled import SampledRanking, sampled_ranking
from fedrec.models.registry import MODELS
from fedrec.protocol import EvaluateInstruction, evaluate_messages, evaluation_counts, theta_to_record
from tests.conftest import evaluate_message, node_context
from tests.in_process_grid import InProcessGrid
from tests.test_node_failures import HOSTED, Run, healthy

KNOWN = np.array([0, 3, 10, 50, 51, 400])
ML100K_ITEMS = 1682


def _per_evaluation(seed: int = 0, negatives: int = 99):  # type: ignore[no-untyped-def]
    return make_config(sampled_negatives=negatives, sampled_candidates="per-evaluation", seed=seed)


def test_fixed_candidates_are_those_drawn_before_the_switch_at_every_epoch() -> None:
    # First six items and sum of the 99 drawn for three users, as commit c495a37 (before the switch) drew them.
    before = {
        (0, 0): ([11, 12, 38, 49, 59, 80], 82775),
        (0, 5): ([5, 6, 8, 15, 35, 64], 87064),
        (0, 942): ([1, 35, 44, 46, 60, 62], 74512),
        (7, 0): ([5, 9, 20, 23, 71, 84], 75389),
        (7, 5): ([6, 24, 59, 68, 70, 85], 80225),
        (7, 942): ([34, 39, 53, 58, 77, 82], 83383),
    }
    for (seed, user), (head, total) in before.items():
        config = make_config(sampled_negatives=99, seed=seed)
        assert config.sampled_candidates == "fixed", "the default"
        for epoch in (0, 1, 2, 50):
            ranking = sampled_ranking(config, epoch)
            assert ranking is not None
            drawn = ranking.sampled_items(user, KNOWN, ML100K_ITEMS)
            assert (drawn[:6].tolist(), int(drawn.sum()), len(drawn)) == (head, total, 99)


def test_per_evaluation_candidates_differ_across_epochs_and_repeat_for_the_same_seed_and_epoch() -> None:
    users = range(40)

    def draws(seed: int, epoch: int) -> list[tuple[int, ...]]:
        ranking = sampled_ranking(_per_evaluation(seed), epoch)
        assert ranking is not None
        return [tuple(ranking.sampled_items(user, KNOWN, ML100K_ITEMS)) for user in users]

    epoch_1, epoch_2 = draws(0, 1), draws(0, 2)
    assert all(first != second for first, second in zip(epoch_1, epoch_2)), "every user's 99 redrawn"
    assert draws(0, 1) == epoch_1, "the same seed and epoch give the same candidates"
    assert all(mine != other for mine, other in zip(epoch_1, draws(1, 1))), "another seed, other candidates"
    fixed = SampledRanking(99, 0)
    assert all(tuple(fixed.sampled_items(user, KNOWN, ML100K_ITEMS)) != drawn for user, drawn in zip(users, epoch_1))
    assert len(set(epoch_1)) == len(epoch_1), "the users' draws differ from each other too"


def test_per_evaluation_candidates_are_never_a_seen_item() -> None:
    rng = np.random.default_rng(3)
    num_users, num_items = 25, 140
    dense = rng.random((num_users, num_items))
    train = sp.csr_array(dense < 0.3)  # about 42 train items a user
    test = sp.csr_array((dense >= 0.3) & (dense < 0.32))  # and about 3 test items, apart from the train ones
    users = np.arange(num_users)
    for epoch in range(6):
        items, is_test, real = SampledRanking(negatives=60, seed=4, epoch=epoch).candidates(users, train, test)
        for row, user in enumerate(users):
            seen = set(train.indices[train.indptr[user] : train.indptr[user + 1]].tolist())
            tested = test.indices[test.indptr[user] : test.indptr[user + 1]].tolist()
            sampled = items[row][real[row] & ~is_test[row]].tolist()
            assert items[row][is_test[row]].tolist() == tested, "the user's test items lead its candidates"
            assert len(sampled) == len(set(sampled)) == 60
            assert not set(sampled) & (seen | set(tested)), f"user {user}, epoch {epoch}: a seen item sampled"


def test_the_evaluate_instruction_carries_the_epoch_evaluated_and_its_last_round() -> None:
    config = make_config()
    theta = MODELS.get(config.model)(config.embedding_dim, config.hidden_layers).init_theta(5, 0)
    (message,) = evaluate_messages(theta, [7], (2,), epoch=13, server_round=1573)
    instruction = EvaluateInstruction.parse(message)
    assert (instruction.epoch, instruction.targets, instruction.server_round) == (13, (2,), 1573)


def test_the_strategy_asks_for_the_starting_model_as_epoch_0_and_each_trained_epoch_by_its_number() -> None:
    seen: list[int] = []

    def recording(users: np.ndarray):  # type: ignore[no-untyped-def]
        answer = healthy(users)

        def record(message):  # type: ignore[no-untyped-def]
            if message.metadata.message_type == MessageType.EVALUATE:
                seen.append(EvaluateInstruction.parse(message).epoch)
            return answer(message)

        return record

    run = Run(InProcessGrid({node: recording(users) for node, users in HOSTED.items()}))
    run.strategy.evaluate_initial(run.grid)
    for server_round in (1, 2, 3):
        run.epoch(server_round)
    assert seen == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3  # one instruction per node, three nodes


def test_a_node_ranks_against_candidates_redrawn_per_evaluation_and_the_same_ones_when_fixed() -> None:
    settings = {"synthetic_users": 40, "synthetic_items": 80, "sampled_negatives": 15, "top_k": "3"}
    config = make_config(**settings)
    theta = theta_to_record(MODELS.get(config.model)(config.embedding_dim, config.hidden_layers).init_theta(80, 0))

    def sampled_hr(candidates: str) -> set[float]:
        context = node_context(partition=(0, 1), sampled_candidates=candidates, **settings)
        values = set()
        for epoch in range(1, 9):
            reply = app(evaluate_message(theta, targets=(5,), epoch=epoch), context)
            values.add(float(evaluation_counts(reply, (3,), (5,)).total.sampled_hr[0]))
        return values

    assert len(sampled_hr("fixed")) == 1, "the same model against the same candidates at every epoch"
    assert len(sampled_hr("per-evaluation")) > 1, "the same model against new candidates at each epoch"


def test_per_evaluation_without_sampled_metrics_or_an_unknown_value_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="sampled-candidates = 'per-evaluation' takes effect only with sampled"):
        make_config(sampled_candidates="per-evaluation", sampled_negatives=0)
    with pytest.raises(ConfigError, match="sampled-candidates"):
        make_config(sampled_candidates="every-epoch", sampled_negatives=99)


def test_the_chance_of_a_hit_over_candidate_draws_is_the_share_of_draws_that_hit() -> None:
    from itertools import combinations

    from experiments.probes.sampled_chance import hit_chances

    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.standard_normal((3, 9))).float()
    scores[2, 5] = scores[2, 1]  # a sampled item tied with user 2's test item: the tie counts for the test item
    train = sp.csr_array(
        np.array([[1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0]])
    )
    test = sp.csr_array(
        np.array([[0, 0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 1], [0, 1, 0, 0, 0, 0, 0, 0, 0]])
    )
    negatives, k = 4, 2
    by_hand = []
    for user in range(3):
        tested = int(test[[user]].indices[0])
        free = [item for item in range(9) if not train[user, item] and item != tested]
        hits = [
            sum(scores[user, item] > scores[user, tested] for item in drawn) < k
            for drawn in combinations(free, negatives)
        ]
        by_hand.append(np.mean(hits))
    assert hit_chances(scores, train, test, negatives, k) == pytest.approx(by_hand)
    assert any(0 < chance < 1 for chance in by_hand), "a user whose hit depends on the draw"
