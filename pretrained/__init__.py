"""Backdoors planted by the provider of a pre-trained sequential recommender, and federated fine-tuning.

Two families, one registry each (a new member is a new file plus one line here):
- `backdoor`: how the provider pre-trains its checkpoint (`python -m pretrained pretrain`), outside
  the federation, on its public share of the users;
- `fine-tune`: how a federation that starts from a checkpoint (`initial-checkpoint`) uses it.
"""

from fedrec.registry import Registry
from fedrec.settings import Setting, user_path
from pretrained.backdoors import BACKDOOR_RATE, PRETRAINING, Backdoor, BasicReplacement, PromptEnhanced, check_backdoor
from pretrained.durable import DurableReplacement
from pretrained.finetuning import AsIs, FineTuning, FrozenItems, PromptOnly, check_fine_tuning

BACKDOORS: Registry[type[Backdoor]] = Registry(
    "backdoor",
    key="backdoor",
    help="How the provider pre-trains a checkpoint (`python -m pretrained pretrain`).",
    settings=(*PRETRAINING, BACKDOOR_RATE),
    check=check_backdoor,
)
BACKDOORS.register("none", Backdoor)
BACKDOORS.register("basic-replacement", BasicReplacement)
BACKDOORS.register("prompt-enhanced", PromptEnhanced)
BACKDOORS.register("durable-replacement", DurableReplacement)

INITIAL_CHECKPOINT = Setting(
    "initial-checkpoint",
    str,
    "A pre-trained checkpoint to start the federation from (empty: train from scratch).",
    convert=user_path,
)

FINE_PRUNING = Setting(
    "fine-pruning",
    float,
    "Fine-pruning: share of each block's feed-forward units, least active on the federation's data (gathered from the "
    "nodes), removed from the checkpoint before fine-tuning (0: off).",
    minimum=0.0,
    maximum=0.95,
)

EXPOSURE_SCAN = Setting(
    "exposure-scan",
    bool,
    "Before fine-tuning, run the target-blind exposure scan federated on the checkpoint Θ the federation starts from: "
    "the nodes send per profile group only sums (top-10 exposure and interactions per item); "
    "`exposure-scan.json` in the results.",
)

SCAN_RESET_ITEMS = Setting(
    "scan-reset-items",
    int,
    "Scan and reset (pretrained/item_reset.py): run the federated exposure scan on the checkpoint and re-initialise "
    "the item-embedding rows of its N most suspicious items before fine-tuning (0: off).",
    minimum=0,
)

FINE_TUNING: Registry[type[FineTuning]] = Registry(
    "fine-tune",
    key="fine-tune",
    help="Which weights the federation trains (scenarios other than `full` start from `initial-checkpoint`).",
    settings=(INITIAL_CHECKPOINT, FINE_PRUNING, EXPOSURE_SCAN, SCAN_RESET_ITEMS),
    check=check_fine_tuning,
)
FINE_TUNING.register("full", FineTuning)
FINE_TUNING.register("none", AsIs)
FINE_TUNING.register("prompt-only", PromptOnly)
FINE_TUNING.register("frozen-items", FrozenItems)

__all__ = ["BACKDOORS", "FINE_TUNING", "Backdoor", "FineTuning"]
