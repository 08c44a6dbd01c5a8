"""Generate motion from text.

    python gen_t2m.py --text "a young cat trots forward, then sits down" --species cat --gender juvenile
    python gen_t2m.py --text-file prompts.txt --num-samples 3 --out outputs/gen   # lines: text or species#gender#text
    python gen_t2m.py --text "a man jogs in a circle" --species human --gender male --length 6s --seed 7

Writes, per sample, OUT/NN_slug/{joints.npy, features.npy, codes.npy, motion.bvh, motion.mp4, prompt.json}.
Models come from --checkpoints (a folder with tokenizer / mask_transformer / residual_transformer /
length_estimator / body_estimator .safetensors; by default checkpoints/people for species "human", else
checkpoints/animals) or one by one.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from models import bundled
from models.bundled import FILES
from models.checkpoint import CheckpointError
from models.mask_transformer.pipeline import GUIDANCE, PRECISIONS, RES_GUIDANCE, STEPS, TEMPERATURE, Motion, \
    T2MPipeline
from models.text_encoder import TEXT_ENCODER_PATH_HELP
from utils.bvh import write_bvh
from utils.io import atomic_save_npy, atomic_write_text

# command-line flag -> bundled file (models/bundled.py)
CHECKPOINT_FILES = {"tokenizer": FILES["tokenizer"], "transformer": FILES["mask_transformer"],
                    "residual": FILES["residual_transformer"], "length_estimator": FILES["length_estimator"],
                    "body_estimator": FILES["body_estimator"]}


def default_checkpoints(species: str) -> Path:
    return bundled.folder(bundled.dataset_for_species(species))


def pipeline_from(args, species: str) -> T2MPipeline:
    folder = Path(args.checkpoints) if args.checkpoints else default_checkpoints(species)
    if not any(getattr(args, k) for k in CHECKPOINT_FILES):
        return T2MPipeline.from_folder(folder, device=args.device, compile=args.compile,
                                       text_encoder_path=args.text_encoder_path)
    paths = {k: getattr(args, k) or folder / name for k, name in CHECKPOINT_FILES.items()}
    for key in CHECKPOINT_FILES:  # a file named on the command line must exist; the folder's own are optional
        if (getattr(args, key) or key in ("tokenizer", "transformer")) and not Path(paths[key]).is_file():
            raise CheckpointError(f"{paths[key]} does not exist; give --checkpoints DIR or --{key.replace('_', '-')}")
    optional = {k: paths[k] if Path(paths[k]).is_file() else None
                for k in ("residual", "length_estimator", "body_estimator")}
    return T2MPipeline.from_files(paths["tokenizer"], paths["transformer"], optional["residual"],
                                  optional["length_estimator"], device=args.device,
                                  body_estimator=optional["body_estimator"], compile=args.compile,
                                  text_encoder_path=args.text_encoder_path)


def read_prompt_file(path: str | Path, species: str | None = None,
                     gender: str | None = None) -> list[tuple[str, str, str]]:
    """[(species, gender, text)] from a file with one `species#gender#text` a line, or a bare text when a default
    species and gender are given; blank lines and lines starting with # are skipped."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    form = "text or species#gender#text" if species and gender else "species#gender#text"
    if not lines:
        raise ValueError(f"{path} holds no prompt (one per line: {form})")
    prompts = []
    for n, ln in enumerate(lines, 1):
        parts = [p.strip() for p in ln.split("#")]
        if len(parts) == 1 and species and gender:
            prompts.append((species, gender, parts[0]))
        elif len(parts) == 3 and all(parts):
            prompts.append(tuple(parts))
        else:
            raise ValueError(f"{path}, line {n}: {ln!r} is not {form}")
    return prompts


def read_prompts(args) -> list[tuple[str, str, str]]:
    """-> [(species, gender, text)] from --text and/or --text-file."""
    prompts = [(args.species, args.gender, t) for t in (args.text or [])]
    if args.text_file:
        prompts += read_prompt_file(args.text_file, args.species, args.gender)
    if not prompts:
        raise ValueError("no prompt: give --text or --text-file")
    for _, _, text in prompts:
        if not text.strip():
            raise ValueError("a prompt is empty; every prompt needs some words")
    return prompts


def slug(text: str, n: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:n] or "motion"


def note_unfamiliar(pipe, text: str) -> list[str] | None:
    """Say on stderr which words of `text` the model's training captions never used; -> those words (None: the
    checkpoint does not list its vocabulary)."""
    words = pipe.unfamiliar_words(text)
    if words:
        one = len(words) == 1
        print(f"note: {', '.join(map(repr, words))} never occur{'s' if one else ''} in the model's training captions "
              f"({text!r}): it may not follow {'that word' if one else 'those words'}; familiar words work best",
              file=sys.stderr)
    return words


def write_motion(m: Motion, folder: Path, spec, video: bool, extra: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(folder / "joints.npy", m.joints)
    atomic_save_npy(folder / "features.npy", m.features)
    atomic_save_npy(folder / "codes.npy", m.codes)
    write_bvh(folder / "motion.bvh", m.joints, spec)
    atomic_write_text(folder / "prompt.json", json.dumps({"text": m.text, "species": m.species, "gender": m.gender,
                                                          "seed": m.seed, "frames": len(m.features),
                                                          "fps": spec.fps, **extra}, indent=1))
    if video:
        from utils.render import render_video
        render_video(m.joints, spec, folder / "motion.mp4", title=f"{m.species} {m.gender}: {m.text}")
    return folder


def add_decoding_args(p: argparse.ArgumentParser) -> None:
    """How codes are decoded from the transformers; `decoding_kwargs` turns them into T2MPipeline arguments."""
    p.add_argument("--guidance", type=float, default=GUIDANCE,
                   help=f"classifier-free guidance scale (1 = none; default {GUIDANCE:g})")
    p.add_argument("--res-guidance", type=float, default=RES_GUIDANCE,
                   help=f"guidance of the residual layers (default {RES_GUIDANCE:g}: none)")
    p.add_argument("--steps", type=int, default=STEPS, help="masked-decoding iterations")
    p.add_argument("--temperature", type=float, default=TEMPERATURE,
                   help="sampling temperature (0: the likeliest code)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="bf16: bfloat16 weights for the text encoder, the transformers and the decoder (faster on "
                        "CPUs with bfloat16 matmuls: AVX-512 BF16, AMX; and on GPUs); int8: the transformers' int8 "
                        "matrix products, the rest as bf16 (CPU only; the fastest for large transformers)")
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help="same as --precision bf16")


def decoding_kwargs(args: argparse.Namespace) -> dict:
    return dict(guidance=args.guidance, res_guidance=args.res_guidance, steps=args.steps,
                temperature=args.temperature, precision=args.precision)


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="sample k of a run (prompts x samples, in order) uses seed + k")
    add_decoding_args(p)
    p.add_argument("--checkpoints", help="folder holding the model files (default: checkpoints/animals or "
                                         "checkpoints/people by species)")
    for key in CHECKPOINT_FILES:
        p.add_argument(f"--{key.replace('_', '-')}", help=f"{key} checkpoint (overrides --checkpoints)")
    p.add_argument("--text-encoder-path", help=TEXT_ENCODER_PATH_HELP)
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when present)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the transformers: faster per prompt after some seconds of compiling per "
                        "batch shape, so for many prompts (needs a C++ compiler on a CPU)")
    p.add_argument("--no-video", action="store_true", help="skip the mp4s")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", nargs="+", help="one or more prompts")
    p.add_argument("--text-file", help="one prompt per line: text, or species#gender#text")
    p.add_argument("--species", default="dog", help="species of --text prompts (human for people)")
    p.add_argument("--gender", default="male", help="male, female or juvenile")
    p.add_argument("--length", help="frames (120) or seconds (6s); default: the length estimator's guess")
    p.add_argument("--num-samples", type=int, default=1, help="samples per prompt")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", default="outputs/gen")
    add_sampling_args(p)
    args = p.parse_args(argv)
    try:
        if args.num_samples < 1:
            raise ValueError(f"--num-samples must be at least 1, got {args.num_samples}")
        if args.guidance < 0 or args.res_guidance < 0:
            raise ValueError("the guidance scale must be >= 0 (1 = no guidance)")
        prompts = read_prompts(args)
        jobs = [(s, g, t, k) for s, g, t in prompts for k in range(args.num_samples)]
        groups: dict[Path, list] = {}
        for j, job in enumerate(jobs):  # people and animals may need different models
            key = Path(args.checkpoints) if args.checkpoints else default_checkpoints(job[0])
            groups.setdefault(key, []).append((j, job))
        out = Path(args.out)
        for group in groups.values():
            pipe = pipeline_from(args, group[0][1][0])
            unfamiliar = {text: note_unfamiliar(pipe, text) for text in dict.fromkeys(job[2] for _, job in group)}
            for a in range(0, len(group), args.batch_size):
                chunk = group[a:a + args.batch_size]
                t0 = time.perf_counter()
                motions = pipe.generate([job[2] for _, job in chunk], [job[0] for _, job in chunk],
                                        [job[1] for _, job in chunk], [args.length] * len(chunk),
                                        seeds=[args.seed + j for j, _ in chunk], **decoding_kwargs(args))
                secs = time.perf_counter() - t0
                for (j, _), m in zip(chunk, motions):
                    folder = write_motion(m, out / f"{j:02d}_{slug(m.text)}", pipe.spec, not args.no_video,
                                          {**decoding_kwargs(args), "unfamiliar_words": unfamiliar[m.text]})
                    print(f"{folder}: {m.species} {m.gender}, {len(m.features) / pipe.spec.fps:.1f} s, "
                          f"seed {m.seed} - {m.text}")
                print(f"generated {len(chunk)} motion(s) in {secs:.2f} s")
    except (CheckpointError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
