"""What train_t2m_transformer.py and train_res_transformer.py share: the cached codes of a data set under a frozen
tokenizer, the condition embeddings, the loss call, validation (token accuracy; with an evaluator, FID and
R-precision of generated motion on a val subset) and the export. The loop itself is utils.training.train."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from models.checkpoint import weights_digest
from models.mask_transformer.backbone import COND_DROPS, encode_condition
from models.mask_transformer.mask_transformer import T2M_CONFIGS, MaskTransformer, transformer_config
from models.mask_transformer.pipeline import T2MPipeline, check_pair
from models.text_encoder import TEXT_ENCODER_DIMS, TEXT_ENCODER_PATH_HELP, CaptionBank, caption_vocabulary
from models.vq.rvqvae import RVQVAE
from utils.codes import CodeDataset, collate_codes, encode_items
from utils.dataset import MotionFolder
from utils.mirror import mirrored_items
from utils.training import TrainConfig, add_train_args


def add_t2m_args(p: argparse.ArgumentParser, code_init: str, text_words: int, mirror: bool) -> None:
    """The flags both transformer trainers take, the shared training-loop flags included; `code_init` is the
    trainer's default start of the code embeddings, `text_words` its default number of word features read, `mirror`
    whether it adds mirrored clips by default."""
    p.add_argument("--data", required=True, help="data set folder (new_joint_vecs/, texts/, splits, Mean/Std)")
    p.add_argument("--tokenizer", required=True, help="the trained tokenizer (model.safetensors of train_vq.py)")
    p.add_argument("--out", required=True, help="run folder: model.safetensors, metrics.csv, state/")
    p.add_argument("--config", default="cpu", choices=sorted(T2M_CONFIGS), help="named transformer size")
    p.add_argument("--text-encoder", default="minilm", choices=sorted(TEXT_ENCODER_DIMS))
    p.add_argument("--text-encoder-path", help=TEXT_ENCODER_PATH_HELP)
    p.add_argument("--closed-vocab", action="store_true",
                   help="learn a table of the training data's species and genders instead of reading names as text")
    p.add_argument("--cond-drop", type=float, default=0.1, help="share of samples trained without the condition")
    p.add_argument("--cond-drop-what", default="all", choices=COND_DROPS,
                   help="what those samples lose: all three condition tokens (guidance then pushes away from any "
                        "motion) or only the text (guidance pushes away from the same species and gender's motion)")
    p.add_argument("--text-words", type=int, default=text_words,
                   help=f"also attend to the first N per-word features of the text encoder (0: the sentence "
                        f"embedding alone; default {text_words})")
    p.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=mirror,
                   help="also train on every train clip mirrored left-to-right, its captions' sides swapped "
                        f"(default {'on' if mirror else 'off'})")
    p.add_argument("--max-tokens", type=int, default=49, help="longest motion in tokens (49 = 196 frames)")
    p.add_argument("--offsets", default="0,2", help="start offsets (frames) at which each clip is tokenized")
    p.add_argument("--cache-dir", default=".cache/codes", help="where the data set's codes are cached")
    p.add_argument("--evaluator", help="evaluator checkpoint: validation also reports FID / R-precision")
    p.add_argument("--val-items", type=int, default=64, help="val clips used by the evaluator validation")
    p.add_argument("--code-init", default=code_init, choices=("tokenizer", "random"),
                   help=f"start the code embeddings from the tokenizer's codebooks, or at random (default {code_init})")
    p.add_argument("--strict", action="store_true", help="stop at the first bad clip instead of skipping it")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_train_args(p, TrainConfig(out_dir="", max_steps=3000, batch_size=64, lr=2e-4, weight_decay=1e-5,
                                  warmup_steps=200, val_every=500, ckpt_every=250))


class TransformerTask:
    """A masked (`residual=False`) or residual transformer trained on a frozen tokenizer's codes."""

    def __init__(self, model, tokenizer: RVQVAE, folder: MotionFolder, args, residual: bool,
                 base_transformer: MaskTransformer | None = None):
        self.model, self.tokenizer, self.residual = model, tokenizer.eval(), residual
        if base_transformer is not None:  # say so now, not at the first validation
            check_pair(tokenizer, base_transformer, "masked transformer given by --transformer")
        self.base_transformer = base_transformer
        offsets = tuple(int(o) for o in args.offsets.split(","))
        self.train_items = folder.load_split("train")
        self.vocabulary = caption_vocabulary(c.text for it in self.train_items for c in it.captions)
        # the estimators fitted beside the masked transformer read train_items as they are; the codes also come
        # from the mirrored copies
        self.mirrored = mirrored_items(self.train_items, folder.spec) if args.mirror else []
        clips = encode_items(tokenizer, self.train_items + self.mirrored, offsets, cache_dir=args.cache_dir,
                             text_encoder_path=args.text_encoder_path)
        self.dataset = CodeDataset(clips, model.config.max_tokens)
        self.collate_fn = collate_codes
        self.val_items = folder.load_split("val") if "val" in folder.available_splits() else []
        self.val_codes = encode_items(tokenizer, self.val_items, (0,), cache_dir=args.cache_dir,
                                      text_encoder_path=args.text_encoder_path)
        self.bank = CaptionBank(model.config.text_encoder, args.text_encoder_path, cache_dir=args.cache_dir)
        names = [it.species for it in self.train_items] + [it.gender for it in self.train_items]
        captions = [c.text for it in self.train_items + self.mirrored + self.val_items for c in it.captions]
        self.bank.preload(captions + names, words=captions if model.config.text_words else None)
        self.evaluator = None
        if args.evaluator:
            from eval.evaluator import TextMotionEvaluator
            self.evaluator = TextMotionEvaluator.load(args.evaluator)
            self.eval_bank = CaptionBank(self.evaluator.config.text_encoder)
        self.val_eval_items = self.val_items[: args.val_items]

    def cond(self, captions, species, genders, device) -> dict[str, torch.Tensor]:
        return encode_condition(self.model.config, lambda t: self.bank(t).to(device), captions, species, genders,
                                words=self.bank.words)

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        codes = batch["codes"]
        cond = self.cond(batch["caption"], batch["species"], batch["gender"], codes.device)
        return model.loss(codes, cond) if self.residual else model.loss(codes[..., 0], cond)

    @torch.no_grad()
    def validate(self, model) -> dict[str, float]:
        if not self.val_items:
            return {}
        device = next(model.parameters()).device
        data = CodeDataset(self.val_codes, model.config.max_tokens, random_crop=False)
        ce, acc, n = 0.0, 0.0, 0
        with torch.random.fork_rng(devices=[]):  # the masks drawn here must not move the training run's RNG
            torch.manual_seed(0)
            for a in range(0, len(data), 64):
                batch = collate_codes([data[i] for i in range(a, min(a + 64, len(data)))])
                codes = batch["codes"].to(device)
                cond = self.cond(batch["caption"], batch["species"], batch["gender"], device)
                _, logs = model.loss(codes, cond) if self.residual else model.loss(codes[..., 0], cond)
                k = len(codes)
                ce, acc, n = ce + logs["ce"] * k, acc + logs["acc"] * k, n + k
        out = {"ce": ce / n, "token_acc": acc / n}
        if self.evaluator is not None:
            out.update(self._evaluate_generated(model))
        return out

    def _evaluate_generated(self, model) -> dict[str, float]:
        from eval.metrics import fid, r_precision
        from eval.t2m import embed_motions, embed_texts, generate_for

        if self.residual and self.base_transformer is None:
            return {}
        device = next(model.parameters()).device
        pipe = T2MPipeline(self.tokenizer, self.base_transformer if self.residual else model,
                           model if self.residual else None, device=device)
        items = [it for it in self.val_eval_items if len(it.features) >= pipe.unit]
        captions = [it.captions[0].text for it in items]
        motions = generate_for(pipe, items, captions)
        ev = self.evaluator.to(device)
        real = embed_motions(ev, [it.features for it in items])
        fake = embed_motions(ev, motions)
        text = embed_texts(ev, self.eval_bank, captions)
        batch = min(32, len(items))
        return {"fid": fid(real, fake), "top1": float(r_precision(text, fake, batch=batch)[0][0]),
                "top1_real": float(r_precision(text, real, batch=batch)[0][0])}

    def export(self, model, path: Path, extra: dict) -> None:
        model.save(path, {**extra, "vocabulary": self.vocabulary})  # to tell users which words it never saw


def new_model_config(config_class, args, tokenizer: RVQVAE, folder: MotionFolder):
    """The transformer's config for this tokenizer, data set and command line."""
    if args.text_words < 0:
        raise ValueError(f"--text-words {args.text_words}: give the number of word features to read, or 0 for the "
                         f"sentence embedding alone")
    vocab = {}
    if args.closed_vocab:
        items = folder.load_split("train")
        vocab = dict(species_vocab=sorted({it.species for it in items}),
                     gender_vocab=sorted({it.gender for it in items}))
    t = tokenizer.config
    return transformer_config(
        config_class, args.config, num_tokens=t.codebook_size, num_quantizers=t.num_quantizers,
        max_tokens=args.max_tokens, frames_per_token=t.frames_per_token, text_encoder=args.text_encoder,
        cond_dim=TEXT_ENCODER_DIMS[args.text_encoder], cond_drop_prob=args.cond_drop, cond_drop=args.cond_drop_what,
        text_words=args.text_words, skeleton=t.skeleton,
        tokenizer_sha256=weights_digest(tokenizer), **vocab)


def load_run(args, model_class, config_class, **config_fields):
    """-> (data folder, frozen tokenizer, model): the run's model when resuming (it must have been trained on this
    tokenizer), else a new one for this tokenizer, data set and command line."""
    if args.threads:  # before the data set's codes are computed
        torch.set_num_threads(args.threads)
    folder = MotionFolder(args.data, strict=args.strict)
    tokenizer = RVQVAE.load(args.tokenizer)
    if not folder.spec.same_layout(tokenizer.spec):
        raise ValueError(f"{args.tokenizer} tokenizes {tokenizer.spec.name!r} motions, {args.data} holds "
                         f"{folder.spec.name!r}")
    if args.resume:
        model = model_class.load(Path(args.out) / "model.safetensors")
        if model.config.tokenizer_sha256 != weights_digest(tokenizer):
            raise ValueError(f"the run being resumed was trained on another tokenizer than {args.tokenizer}")
    else:
        config = new_model_config(config_class, args, tokenizer, folder)
        for k, v in config_fields.items():
            setattr(config, k, v)
        model = model_class(config)
        if args.code_init == "tokenizer":
            try:
                model.init_code_embeddings(tokenizer.quantizer.codebooks)
            except ValueError as e:
                raise ValueError(f"--code-init tokenizer: {e}; choose a --config of the tokenizer's code width "
                                 f"{tokenizer.config.code_dim}, or --code-init random") from None
    return folder, tokenizer, model
