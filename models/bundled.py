"""Where the bundled models live, and which of them a command uses when given none.

checkpoints/ (beside this package, so commands work from any directory; ZOOMOTION_CHECKPOINTS overrides it) holds
one folder per zoo data set, `animals` (animo30 skeleton) and `people` (humanml22; its lifter reads h36m17 video
keypoints), each with the files named in FILES. bundle_models.py writes them from training runs.
"""
from __future__ import annotations

import os
from pathlib import Path

from models.checkpoint import CheckpointError

FILES = {
    "tokenizer": "tokenizer.safetensors",
    "mask_transformer": "mask_transformer.safetensors",
    "residual_transformer": "residual_transformer.safetensors",
    "length_estimator": "length_estimator.safetensors",
    "body_estimator": "body_estimator.safetensors",
    "lifter": "lifter.safetensors",
    "evaluator": "evaluator.safetensors",
}
DATASETS = ("animals", "people")
PEOPLE_SKELETONS = ("humanml22", "h36m17")
HUMAN = "human"


def root() -> Path:
    env = os.environ.get("ZOOMOTION_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "checkpoints"


def dataset_for_species(species: str) -> str:
    """'human' -> people; any other name (seen in training or not, the models read it as text) -> animals."""
    return "people" if species.strip().lower() == HUMAN else "animals"


def dataset_for_skeleton(name: str) -> str:
    return "people" if name in PEOPLE_SKELETONS else "animals"


def folder(dataset: str) -> Path:
    if dataset not in DATASETS:
        raise ValueError(f"no bundled models for {dataset!r}; the bundle has {list(DATASETS)}")
    return root() / dataset


def bundled(dataset: str, model: str) -> Path:
    """The bundled checkpoint file of `model` (a key of FILES) for `dataset`; a clear error when it is missing."""
    path = folder(dataset) / FILES[model]
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist: the bundled models are missing from this checkout; "
                              f"give the checkpoint explicitly, or rebuild the bundle with `make train-zoo`")
    return path


def for_skeleton(skeleton: str, model: str) -> Path:
    """The bundled `model` file for motions of the named skeleton."""
    return bundled(dataset_for_skeleton(skeleton), model)
