"""SASRec (Kang & McAuley, ICDM 2018) as APRec uses it, with APRec's optional profile prompt.

The backbone is PyTorch's own `nn.TransformerEncoderLayer` (pre-norm, ReLU feed-forward of width d),
learned positions, item embeddings tied with the output: a user's state is the hidden state at the
last position and an item's score is dot(state, item embedding). Sequences are left-padded to
`max-sequence-length`, so the last position is always the newest item.

The profile prompt (APRec): a user's attributes (gender, age, occupation) are embedded, passed through
a small MLP and inserted as one prefix token before every transformer layer (prefix tuning: layer l
sees prompt_l at position 0, whatever layer l-1 wrote there). Attribute values are hashed into
`PROFILE_BUCKETS` rows per attribute (crc32), so Θ's shapes do not depend on the dataset.

Masking: query q may attend to key k when k <= q (causal) and k is a real token or q itself. Letting
a padding query see itself keeps every row of the mask non-empty; a fully masked row gives NaN in
PyTorch's attention. Padding outputs are never read.

Θ is every weight of the network; the item embedding is `ITEM_EMBEDDING` (rows uploaded sparsely),
everything else is dense. There is no private user embedding: a user's private data is its sequence
and profile, so `init_user_embeddings` returns an empty [U, 0] tensor.
"""

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from fedrec.data.dataset import RecDataset
from fedrec.evaluation.metrics import EvalCounts
from fedrec.evaluation.sampled import SampledRanking
from fedrec.models.base import ITEM_EMBEDDING, RecModel, Theta

# Modules, not names: the model registry loads every model while the family's modules may still be
# importing the model base, so their functions are looked up when called.
from fedrec.sequential import evaluation, sequences, training
from fedrec.sequential.batch import PROFILE_ATTRIBUTES, PROFILE_BUCKETS, SequenceBatch
from fedrec.settings import Setting
from fedrec.training import local

_MODULE_ITEM_EMBEDDING = "item_embedding.weight"
#: Θ names of the prompt pathway start with this.
PROMPT_PREFIX = "prompt."

MAX_SEQUENCE_LENGTH = Setting(
    "max-sequence-length", int, "`sasrec`: the most recent items a sequence keeps.", minimum=2
)
TRANSFORMER_LAYERS = Setting("transformer-layers", int, "`sasrec`: transformer blocks.", minimum=1)
ATTENTION_HEADS = Setting("attention-heads", int, "`sasrec`: attention heads (must divide `embedding-dim`).", minimum=1)
DROPOUT = Setting(
    "dropout", float, "`sasrec`: dropout on embeddings and inside the blocks while training.", minimum=0.0, maximum=0.9
)
PROFILE_PROMPT = Setting(
    "profile-prompt",
    bool,
    "`sasrec`: add APRec's profile prompt (a prefix token per layer from the user's attributes).",
)


class ProfilePrompt(nn.Module):
    """Attributes -> one prefix token per layer (APRec's prompt generator)."""

    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.layers, self.dim = layers, dim
        self.attributes = nn.Embedding(len(PROFILE_ATTRIBUTES) * PROFILE_BUCKETS, dim)
        self.mlp = nn.Sequential(nn.Linear(len(PROFILE_ATTRIBUTES) * dim, dim), nn.ReLU(), nn.Linear(dim, layers * dim))

    def forward(self, profile: torch.Tensor) -> torch.Tensor:
        """[B, layers, d] prompt tokens."""
        embedded = self.attributes(profile).flatten(-2)
        return self.mlp(embedded).reshape(*profile.shape[:-1], self.layers, self.dim)


class SASRecNet(nn.Module):
    def __init__(
        self, num_items: int, dim: int, max_len: int, layers: int, heads: int, dropout: float, prompt: bool
    ) -> None:
        super().__init__()
        self.item_embedding = nn.Embedding(num_items, dim)
        self.positions = nn.Embedding(max_len, dim)
        self.embedding_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, dim_feedforward=dim, dropout=dropout, batch_first=True, norm_first=True
            )
            for _ in range(layers)
        )
        self.final_norm = nn.LayerNorm(dim)
        self.prompt = ProfilePrompt(dim, layers) if prompt else None
        self.heads = heads

    def forward(self, items: torch.Tensor, real: torch.Tensor, profile: torch.Tensor) -> torch.Tensor:
        """Hidden states [B, L, d] at the item positions."""
        length = items.shape[-1]
        hidden = self.item_embedding(items) * math.sqrt(self.item_embedding.embedding_dim)
        hidden = self.embedding_dropout(hidden + self.positions.weight[-length:]) * real.unsqueeze(-1)
        prompts = None
        if self.prompt is not None:
            prompts = self.prompt(profile)
            hidden = torch.cat([prompts[:, 0:1], hidden], dim=1)
            real = torch.cat([torch.ones_like(real[:, :1]), real], dim=1)
        blocked = ~attention_allowed(real).repeat_interleave(self.heads, dim=0)
        for layer, block in enumerate(self.blocks):
            if prompts is not None and layer > 0:
                hidden = torch.cat([prompts[:, layer : layer + 1], hidden[:, 1:]], dim=1)
            hidden = block(hidden, src_mask=blocked)
        hidden = self.final_norm(hidden)
        return hidden[:, 1:] if prompts is not None else hidden


def attention_allowed(real: torch.Tensor) -> torch.Tensor:
    """[B, T, T] bool: query q may see key k iff k <= q and (k is real or k == q)."""
    length = real.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=real.device).tril()
    itself = torch.eye(length, dtype=torch.bool, device=real.device)
    return causal & (real.unsqueeze(-2) | itself)


def module_name(theta_name: str) -> str:
    return _MODULE_ITEM_EMBEDDING if theta_name == ITEM_EMBEDDING else theta_name


def theta_name(module_name_: str) -> str:
    return ITEM_EMBEDDING if module_name_ == _MODULE_ITEM_EMBEDDING else module_name_


class SASRec(RecModel):
    """The sequential model family's member: scores from a user's own sequence, not a user embedding."""

    settings = (MAX_SEQUENCE_LENGTH, TRANSFORMER_LAYERS, ATTENTION_HEADS, DROPOUT, PROFILE_PROMPT)
    sequential = True

    def __init__(
        self,
        embedding_dim: int,
        hidden_layers: tuple[int, ...] = (),
        max_len: int = 50,
        layers: int = 1,
        heads: int = 1,
        dropout: float = 0.2,
        prompt: bool = False,
    ) -> None:
        super().__init__(embedding_dim, hidden_layers)
        if embedding_dim % heads:
            raise ValueError(f"embedding-dim {embedding_dim} is not divisible by attention-heads {heads}")
        self.max_len, self.layers, self.heads, self.dropout, self.prompt = max_len, layers, heads, dropout, prompt
        self._nets: dict[int, SASRecNet] = {}

    @classmethod
    def from_config(cls, config: Any) -> "SASRec":
        return cls(
            config.embedding_dim,
            max_len=config.max_sequence_length,
            layers=config.transformer_layers,
            heads=config.attention_heads,
            dropout=config.dropout,
            prompt=config.profile_prompt,
        )

    def net(self, num_items: int) -> SASRecNet:
        """The module whose parameters Θ replaces in `functional_call` (built once per catalogue size, on
        the meta device: it holds no weights of its own and draws no random numbers)."""
        if num_items not in self._nets:
            with torch.device("meta"):
                self._nets[num_items] = self._new_net(num_items)
        return self._nets[num_items]

    def _new_net(self, num_items: int) -> SASRecNet:
        return SASRecNet(
            num_items, self.embedding_dim, self.max_len, self.layers, self.heads, self.dropout, self.prompt
        )

    def init_theta(self, num_items: int, seed: int) -> Theta:
        """Xavier-normal matrices (the common PyTorch SASRec's init; N(0, 1) embeddings scaled by sqrt(d)
        would saturate the loss), PyTorch's defaults for biases and layer norms."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            fresh = self._new_net(num_items)
            for value in fresh.parameters():
                if value.dim() > 1:
                    nn.init.xavier_normal_(value)
        return {theta_name(name): value.detach().clone() for name, value in fresh.named_parameters()}

    def hidden(self, theta: Theta, batch: SequenceBatch, train: bool = False) -> torch.Tensor:
        """Hidden states [B, L, d] of `batch` under Θ (dropout only when `train`)."""
        net = self.net(theta[ITEM_EMBEDDING].shape[0])
        net.train(train)
        params = {module_name(name): value for name, value in theta.items()}
        return functional_call(net, params, (batch.items, batch.real, batch.profile))

    def feedforward_activity(self, theta: Theta, batch: SequenceBatch) -> tuple[torch.Tensor, int]:
        """(Sum over the batch's real item positions of each block's feed-forward units' ReLU outputs
        [layers, d], the number of positions): what fine-pruning ranks units by."""
        net = self.net(theta[ITEM_EMBEDDING].shape[0])
        captured: list[torch.Tensor] = []
        hooks = [block.linear1.register_forward_hook(lambda _m, _i, out: captured.append(out)) for block in net.blocks]
        try:
            with torch.no_grad():
                self.hidden(theta, batch)
        finally:
            for hook in hooks:
                hook.remove()
        offset = 1 if self.prompt else 0  # the prompt token is not an item position
        sums = torch.stack([torch.relu(out[:, offset:])[batch.real].sum(0) for out in captured])
        return sums, int(batch.real.sum())

    def user_states(self, theta: Theta, batch: SequenceBatch) -> torch.Tensor:
        """[B, d]: each user's state after its newest item."""
        return self.hidden(theta, batch)[:, -1]

    def score_sequences(self, theta: Theta, batch: SequenceBatch) -> torch.Tensor:
        """[B, M] scores of every item as each user's next item."""
        return self.user_states(theta, batch) @ theta[ITEM_EMBEDDING].T

    def sequence_loss(self, theta: Theta, batch: SequenceBatch, train: bool = True) -> torch.Tensor:
        """Per-user BPR loss [B]: mean over the real positions of -log σ(s(next) - s(negative))."""
        hidden = self.hidden(theta, batch, train)
        items = theta[ITEM_EMBEDDING]
        margin = (hidden * (items[batch.labels] - items[batch.negatives])).sum(-1)
        weight = batch.real.to(hidden.dtype)
        return -(nn.functional.logsigmoid(margin) * weight).sum(-1) / weight.sum(-1).clamp(min=1.0)

    def logits(self, theta: Theta, user_emb: torch.Tensor, item_emb: torch.Tensor) -> torch.Tensor:
        raise TypeError("sasrec scores sequences, not (user, item) embedding pairs: use score_sequences")

    def score_all_items(self, theta: Theta, user_emb: torch.Tensor) -> torch.Tensor:
        raise TypeError("sasrec scores sequences, not user embeddings: use score_sequences")

    def init_user_embeddings(self, user_ids: np.ndarray, seed: int, num_users: int | None = None) -> torch.Tensor:
        return torch.zeros(len(user_ids), 0)

    def evaluate_counts(
        self,
        theta: Theta,
        dataset: RecDataset,
        users: np.ndarray,
        embeddings: torch.Tensor,
        ks: tuple[int, ...],
        targets: tuple[int, ...],
        sampled: SampledRanking | None = None,
        exposure_masks_test: bool = True,
    ) -> EvalCounts:
        """Ranking counts of `users` from their own chronological sequences and profiles (no embeddings)."""
        histories, profile = sequences.user_sequences(dataset, users)
        return evaluation.evaluate_sequences(
            self,
            theta,
            users,
            histories,
            profile,
            dataset.ranking_mask,
            dataset.test,
            ks,
            targets,
            sampled,
            exposure_masks_test,
        )

    def honest_updates(
        self, theta: Theta, dataset: RecDataset, users: np.ndarray, embeddings: torch.Tensor, step: local.LocalStep
    ) -> local.LocalResult:
        """Each user's next-item loss over its own sequence and profile, differentiated only where the
        step's `trainable` lets Θ train."""
        config, epoch = step.config, step.epoch
        instances = sequences.training_sequences(
            users,
            *sequences.user_sequences(dataset, users),
            dataset.num_items,
            config.max_sequence_length,
            config.seed,
            epoch if config.resample_negatives else 0,
        )
        dropout_seed = int(np.random.default_rng([config.seed, epoch, int(users[0])]).integers(2**31))
        return training.sequential_user_updates(self, theta, instances, step.trainable, dropout_seed)


def is_prompt(name: str) -> bool:
    return name.startswith(PROMPT_PREFIX)
