"""Text (+ species, gender, length) -> motion: a thin pipeline over the text encoder, the length estimator, the
masked and residual transformers, the cosine schedule and the tokenizer.

Randomness: sample k of a call draws from its own torch.Generator seeded with `seed + k`, so a call is
reproducible, a batch gives what the same prompts give one by one, and any sample can be regenerated alone.
"""
from __future__ import annotations

import copy
import math
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.bundled import FILES
from models.checkpoint import CheckpointError, weights_digest
from models.layers import int8_blocks
from models.mask_transformer.backbone import encode_condition
from models.mask_transformer.body_estimator import BodyEstimator
from models.mask_transformer.length_estimator import LengthEstimator
from models.mask_transformer.mask_transformer import MaskTransformer
from models.mask_transformer.residual_transformer import ResidualTransformer
from models.mask_transformer.scheduler import CosineMaskSchedule
from models.text_encoder import condition_texts, load_text_encoder, unfamiliar_words
from models.vq.rvqvae import RVQVAE
from utils.features import recover_joints, recover_root
from utils.kinematics import yaw_rotate


@dataclass
class Motion:
    """One generated (or edited) motion."""
    text: str
    species: str
    gender: str
    seed: int
    codes: np.ndarray  # (N, Q) int64
    features: np.ndarray  # (T, D) unnormalised
    joints: np.ndarray  # (T, J, 3), recovered from the features


def check_pair(tokenizer: RVQVAE, model, name: str = "transformer") -> None:
    """A masked or residual transformer must predict this tokenizer's codes: same code grid, and (when the model
    recorded one) the digest of the very weights whose codes it was trained on."""
    tok, c = tokenizer.config, model.config
    if (c.num_tokens, c.num_quantizers) != (tok.codebook_size, tok.num_quantizers):
        raise ValueError(f"the {name} predicts {c.num_quantizers} x {c.num_tokens} codes, the tokenizer has "
                         f"{tok.num_quantizers} x {tok.codebook_size}: they are not a pair")
    sha = weights_digest(tokenizer)
    if c.tokenizer_sha256 and c.tokenizer_sha256 != sha:
        raise ValueError(f"the {name} was trained on the codes of another tokenizer (weights "
                         f"{c.tokenizer_sha256[:12]}, this one is {sha[:12]}); give the tokenizer it was "
                         f"trained with, or retrain it on this tokenizer's codes")


def parse_frames(length: int | float | str, fps: float) -> int:
    """A length in frames (120, "120") or seconds ("6s", "6.5 s") -> frames."""
    if not isinstance(length, str):
        return int(length)
    s = length.strip().lower()
    try:
        return round(float(s[:-1]) * fps) if s.endswith("s") else int(s)
    except ValueError:
        raise ValueError(f"length {length!r} is neither frames (120) nor seconds (6s)") from None


# Decoding defaults, chosen on the zoo's validation splits with the bundled models (README, "sampling defaults"):
# a milder guidance of the base layer than MoMask's 4 and none on the residual layers (MoMask: 5). On the animals'
# validation split, 2.5 / 1 scored R-precision 0.637 and FID 0.011 against 0.579 and 0.021 at 4 / 5.
GUIDANCE = 2.5
RES_GUIDANCE = 1.0
STEPS = 10
TEMPERATURE = 1.0
TOPK = 0.1
# Inference precisions. "bf16": bfloat16 weights for the text encoder, the transformers and the tokenizer's decoder
# (fast on CPUs with bfloat16 matmuls: AVX-512 BF16, AMX; and on GPUs). "int8": the transformers' blocks run int8
# matrix products (int8_blocks; CPUs only), the text encoder and the decoder as with "bf16". On the 2-core
# AVX-512 BF16 CPU of bench/t2m_speed.py, int8 took 0.85x of bf16's time at MoMask's size (batch 1 and 32); at the
# bundled models' smaller size it was no faster (BENCHMARKS.md, "Precisions").
PRECISIONS = ("fp32", "bf16", "int8")


def check_precision(precision: str, device: torch.device, compile: bool = False) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"precision int8 runs on a CPU only (torch's dynamic int8 kernels are CPU kernels); on "
                         f"{device.type} use bf16")
    if precision == "int8" and compile:
        raise ValueError("precision int8 does not combine with compiling (--compile): choose one")


def top_k_filter(logits: torch.Tensor, ratio: float) -> torch.Tensor:
    """Keep the top `ratio` share of each row's logits (MoMask: 10%), the rest -inf."""
    k = max(1, math.ceil(ratio * logits.shape[-1]))
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def sample(logits: torch.Tensor, temperature: float, generators: list[torch.Generator], max_len: int) -> torch.Tensor:
    """(B, N, K) -> (B, N) by the Gumbel-max trick; temperature 0 = argmax. Item b's noise comes from generators[b],
    always drawn for `max_len` positions, so it does not depend on how long the other items of the batch are."""
    if temperature < 0:
        raise ValueError(f"the temperature must be >= 0 (0 = always the likeliest code), got {temperature}")
    if temperature == 0:
        return logits.argmax(-1)
    B, N, K = logits.shape
    u = torch.stack([torch.rand(max_len, K, generator=g, dtype=torch.float32)[:N] for g in generators])
    gumbel = -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7))).to(logits.device)
    return (logits / temperature + gumbel).argmax(-1)


class T2MPipeline:
    def __init__(self, tokenizer: RVQVAE, transformer: MaskTransformer, residual: ResidualTransformer | None = None,
                 length_estimator: LengthEstimator | None = None, device: str | torch.device | None = None,
                 text_encoder_path: str | None = None, schedule: CosineMaskSchedule = CosineMaskSchedule(),
                 body_estimator: BodyEstimator | None = None, compile: bool = False):
        """`compile`: run the transformers through torch.compile (inductor, weights frozen as constants). Each
        new batch shape costs some seconds of compiling on first use, so it pays off over many prompts; on a CPU it
        needs a C++ compiler."""
        self.device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = tokenizer.to(self.device).eval()
        self.transformer = transformer.to(self.device).eval()
        self.residual = residual.to(self.device).eval() if residual is not None else None
        self.length_estimator = length_estimator.to(self.device).eval() if length_estimator is not None else None
        self.body_estimator = body_estimator.to(self.device).eval() if body_estimator is not None else None
        self.schedule = schedule
        self.compile = compile
        if compile and self.device.type == "cpu" and not any(map(shutil.which, ("g++", "c++", "clang++"))):
            raise ValueError("compile=True (--compile) needs a C++ compiler on a CPU (g++ or clang++); install one, "
                             "or run without compiling")
        self._runnables: dict[tuple[str, str], torch.nn.Module] = {}  # inference copies, made when first asked
        self._check_pair()
        self.spec = tokenizer.spec
        self.unit = tokenizer.frames_per_token
        cfg = transformer.config
        self.text = load_text_encoder(cfg.text_encoder, path=text_encoder_path, device=self.device)
        self.tok_text = load_text_encoder(tokenizer.config.text_encoder, path=text_encoder_path, device=self.device)
        self.max_frames = cfg.max_tokens * self.unit
        self.min_frames = (length_estimator.config.min_tokens if length_estimator else 1) * self.unit

    def _check_pair(self) -> None:
        for name, m in (("masked transformer", self.transformer), ("residual transformer", self.residual)):
            if m is not None:
                check_pair(self.tokenizer, m, name)
        if self.residual is not None and self.residual.config.text_encoder != self.transformer.config.text_encoder:
            raise ValueError("the masked and residual transformers use different text encoders")
        if self.body_estimator is not None:
            want = self.tokenizer.spec.num_joints - 1 if self.tokenizer.config.body_condition else 0
            if self.body_estimator.config.body_dim != want:
                raise ValueError(f"the body estimator gives {self.body_estimator.config.body_dim} bone lengths; the "
                                 f"tokenizer takes {want} (fit the estimator for this tokenizer)")

    @classmethod
    def from_files(cls, tokenizer: str | Path, transformer: str | Path, residual: str | Path | None = None,
                   length_estimator: str | Path | None = None, device=None, body_estimator: str | Path | None = None,
                   **kw) -> "T2MPipeline":
        return cls(RVQVAE.load(tokenizer), MaskTransformer.load(transformer),
                   ResidualTransformer.load(residual) if residual else None,
                   LengthEstimator.load(length_estimator) if length_estimator else None, device=device,
                   body_estimator=BodyEstimator.load(body_estimator) if body_estimator else None, **kw)

    @classmethod
    def from_folder(cls, folder: str | Path, device=None, **kw) -> "T2MPipeline":
        """A checkpoint folder laid out as the bundle (models/bundled.py FILES); the residual transformer and the
        length and body estimators are used when present."""
        folder = Path(folder)
        paths = {k: folder / FILES[k] for k in ("tokenizer", "mask_transformer", "residual_transformer",
                                                  "length_estimator", "body_estimator")}
        for key in ("tokenizer", "mask_transformer"):
            if not paths[key].is_file():
                raise CheckpointError(f"{paths[key]} does not exist: {folder} is not a checkpoint folder with at least "
                                      f"{FILES['tokenizer']} and {FILES['mask_transformer']}")
        optional = {k: paths[k] if paths[k].is_file() else None
                    for k in ("residual_transformer", "length_estimator", "body_estimator")}
        return cls.from_files(paths["tokenizer"], paths["mask_transformer"], optional["residual_transformer"],
                              optional["length_estimator"], device=device, body_estimator=optional["body_estimator"],
                              **kw)

    # ---- helpers ------------------------------------------------------------------------------------------------
    def condition(self, texts: list[str], species: list[str], genders: list[str], precision: str = "fp32"
                  ) -> dict[str, torch.Tensor]:
        """The transformers' condition; a precision other than fp32 encodes the texts with a bfloat16 copy of the
        text encoder (float32 embeddings either way)."""
        # the copy keeps its own, bfloat16-made embeddings
        encoder = self._bf16_copy("text", lambda run: run.clear_cache()) if precision != "fp32" else self.text
        return encode_condition(self.transformer.config, lambda t: encoder(t).float(), texts, species, genders,
                                words=encoder.words)  # float32 features either way

    def unfamiliar_words(self, text: str) -> list[str] | None:
        """Words of `text` the masked transformer's training captions never used (in any form); the model may not
        follow what they say. None when its checkpoint does not list its vocabulary."""
        vocabulary = getattr(self.transformer, "checkpoint_extra", {}).get("vocabulary")
        return None if vocabulary is None else unfamiliar_words(text, vocabulary)

    def frames_from(self, length: int | float | str) -> int:
        """A length as frames (int), or seconds ("6s", "6.5 s") -> frames, checked against the model's range."""
        frames = parse_frames(length, self.spec.fps)
        if not self.min_frames <= frames <= self.max_frames:
            raise ValueError(f"length {length!r} = {frames} frames is outside this model's range "
                             f"{self.min_frames}-{self.max_frames} frames ({self.min_frames / self.spec.fps:.1f}-"
                             f"{self.max_frames / self.spec.fps:.1f} s at {self.spec.fps:g} fps)")
        return frames

    def estimate_frames(self, cond: dict[str, torch.Tensor], species: list[str], genders: list[str],
                        generators: list[torch.Generator]) -> list[int]:
        """Lengths drawn from the length estimator for rows of `cond` (the transformers' condition)."""
        if self.length_estimator is None:
            raise ValueError("no length was given and the pipeline has no length estimator; give a length")
        tokens = self.length_estimator.sample(*self._estimator_inputs(cond, species, genders), generators=generators)
        return [int(t) * self.unit for t in tokens.clamp(1, self.transformer.config.max_tokens)]

    def estimate_bodies(self, cond: dict[str, torch.Tensor], species: list[str], genders: list[str]
                        ) -> torch.Tensor | None:
        """(B, J-1) bodies for the tokenizer's decoder from the body estimator, or None (the species' typical body)
        when the pipeline has none."""
        if self.body_estimator is None:
            return None
        return self.body_estimator(*self._estimator_inputs(cond, species, genders))

    def _estimator_inputs(self, cond: dict[str, torch.Tensor], species: list[str], genders: list[str]):
        """The estimators' inputs: text, species and gender embeddings (closed vocabularies hold indices)."""
        names = [cond[k].float() if cond[k].is_floating_point() else self.text(list(n))
                 for k, n in (("species", species), ("gender", genders))]
        return cond["text"].float(), *names

    def _bf16_copy(self, name: str, finish=None) -> torch.nn.Module:
        """A bfloat16 copy of the model `name`, made once (`finish(copy)` adjusts it then)."""
        if (name, "bf16") not in self._runnables:
            run = copy.deepcopy(getattr(self, name)).to(torch.bfloat16)
            if finish is not None:
                finish(run)
            self._runnables[name, "bf16"] = run
        return self._runnables[name, "bf16"]

    def _runnable(self, name: str, cond: dict[str, torch.Tensor], precision: str):
        """The transformer `name` and the condition to give it: as loaded, or a copy made once, with bfloat16
        weights (bf16) or int8 blocks (int8), and compiled (self.compile). Casting the weights once, rather than
        autocast casting them at every call, is what makes bfloat16 pay at inference on a CPU."""
        model = getattr(self, name)
        if precision == "bf16":
            cond = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in cond.items()}
        if precision == "fp32" and not self.compile:
            return model, cond
        if (name, precision) not in self._runnables:
            run = int8_blocks(model) if precision == "int8" else copy.deepcopy(model)
            if precision == "bf16":
                run.to(torch.bfloat16)
            if self.compile:  # the copy's weights never change: inlined as constants ("freezing")
                run.forward = torch.compile(run.forward, options={"freezing": True})
            self._runnables[name, precision] = run
        return self._runnables[name, precision], cond

    # ---- decoding ---------------------------------------------------------------------------------------------------
    def _base_codes(self, cond, n_tokens: torch.Tensor, keep: torch.Tensor, generators, steps: int, guidance: float,
                    temperature: float, topk: float, precision: str) -> torch.Tensor:
        """Masked decoding of layer 0. keep (B, N): known codes (>= 0) stay; -1 marks a token to generate."""
        m, cond = self._runnable("transformer", cond, precision)
        B, N = keep.shape
        valid = torch.arange(N, device=self.device)[None] < n_tokens[:, None]
        open_ = valid & (keep < 0)
        n_open = open_.sum(1)
        ids = torch.where(open_, m.mask_id, keep.clamp_min(0)).masked_fill(~valid, m.pad_id)
        scores = torch.zeros(B, N, device=self.device).masked_fill(~open_, float("inf"))
        for t in self.schedule.timesteps(steps):
            n_mask = self.schedule.num_masked(t, n_open)
            ranks = scores.argsort(1).argsort(1)
            is_mask = (ranks < n_mask[:, None]) & open_
            ids = torch.where(is_mask, m.mask_id, ids)
            logits = m.guided_logits(ids, cond, valid, guidance)  # (B, N, K) float32
            pred = sample(top_k_filter(logits, topk), temperature, generators, self.transformer.config.max_tokens)
            ids = torch.where(is_mask, pred, ids)
            conf = logits.softmax(-1).gather(2, pred[..., None])[..., 0]
            scores = conf.masked_fill(~is_mask, float("inf"))
        return ids.masked_fill(~valid, -1)

    def _residual_codes(self, cond, base: torch.Tensor, keep: torch.Tensor | None, generators, guidance: float,
                        temperature: float, topk: float, precision: str) -> torch.Tensor:
        """Layers 1..Q-1, one pass each. keep (B, N, Q): where >= 0 those codes stay."""
        Q = self.tokenizer.config.num_quantizers
        B, N = base.shape
        valid = base >= 0
        codes = torch.full((B, N, Q), -1, dtype=torch.long, device=self.device)
        codes[..., 0] = base
        if self.residual is None:
            return codes
        residual, cond = self._runnable("residual", cond, precision)
        for j in range(1, Q):
            logits = residual.guided_logits(codes, j, cond, valid, guidance)  # (B, N, K) float32
            pred = sample(top_k_filter(logits, topk), temperature, generators, self.transformer.config.max_tokens)
            if keep is not None:
                pred = torch.where(keep[..., j] >= 0, keep[..., j], pred)
            codes[..., j] = pred.masked_fill(~valid, -1)
        return codes

    def _decode(self, codes: torch.Tensor, species, genders, body: torch.Tensor | None = None,
                precision: str = "fp32") -> torch.Tensor:
        """(B, N, Q) codes (-1 padding; layers of -1 are left out) -> (B, N * unit, D) unnormalised features.
        `body` (B, J-1), the tokenizer's body condition, keeps a source's proportions (None: the species' own).
        A precision other than fp32 decodes with a bfloat16 copy of the tokenizer whose output layer stays float32
        (the features would otherwise be rounded to bfloat16's 8-bit mantissa; see the tokenizer's Decoder)."""
        cond = self.tok_text(condition_texts(list(species), list(genders)))
        mask = (codes[..., 0] >= 0).repeat_interleave(self.unit, dim=1)
        tokenizer = self.tokenizer
        if precision != "fp32":
            tokenizer = self._bf16_copy("tokenizer", lambda run: run.decoder.conv_out.float())
            cond = cond.to(torch.bfloat16)
        return self.tokenizer.denormalize(tokenizer.decode(codes, cond, mask=mask, body=body).float())

    # ---- public ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, texts: list[str], species: list[str], genders: list[str],
                 lengths: list[int | float | str | None] | None = None, seed: int = 0,
                 seeds: list[int] | None = None, guidance: float = GUIDANCE,
                 res_guidance: float = RES_GUIDANCE, steps: int = STEPS, temperature: float = TEMPERATURE,
                 topk: float = TOPK, precision: str = "fp32", timings: dict[str, float] | None = None
                 ) -> list[Motion]:
        """One motion per text. `lengths[k]` in frames, or seconds as "6s"; None -> the length estimator.
        Sample k draws from a generator seeded with seeds[k] (default seed + k). `precision`: see PRECISIONS;
        `timings`, when given, receives the seconds spent in each stage."""
        B = len(texts)
        if B == 0:
            raise ValueError("nothing to generate: no texts")
        for g in (guidance, res_guidance):
            if g < 0:
                raise ValueError(f"the guidance scale must be >= 0 (1 = no guidance), got {g}")
        seeds = list(seeds) if seeds is not None else [seed + k for k in range(B)]
        if len(seeds) != B:
            raise ValueError(f"got {len(seeds)} seeds for {B} texts")
        check_precision(precision, self.device, self.compile)
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        lengths = list(lengths) if lengths is not None else [None] * B
        if len(lengths) != B:
            raise ValueError(f"got {len(lengths)} lengths for {B} texts")
        frames = [None if n is None else self.frames_from(n) for n in lengths]
        clock = _Clock(timings, self.device)
        with clock("text"):
            cond = self.condition(texts, species, genders, precision)
        todo = [k for k, f in enumerate(frames) if f is None]
        if todo:
            with clock("length"):
                est = self.estimate_frames({k: v[todo] for k, v in cond.items()}, [species[k] for k in todo],
                                           [genders[k] for k in todo], [generators[k] for k in todo])
            for k, f in zip(todo, est):
                frames[k] = f
        n_tokens = torch.tensor([math.ceil(f / self.unit) for f in frames], device=self.device)
        keep = torch.full((B, int(n_tokens.max())), -1, dtype=torch.long, device=self.device)
        with clock("mask_transformer"):
            base = self._base_codes(cond, n_tokens, keep, generators, steps, guidance, temperature, topk, precision)
        with clock("residual_transformer"):
            codes = self._residual_codes(cond, base, None, generators, res_guidance, temperature, topk, precision)
        with clock("decode"):
            feats = self._decode(codes, species, genders, self.estimate_bodies(cond, species, genders), precision)
        out = []
        for k in range(B):
            f = feats[k, : frames[k]].double()
            out.append(Motion(texts[k], species[k], genders[k], seeds[k], codes[k, : n_tokens[k]].cpu().numpy(),
                              f.float().cpu().numpy(), recover_joints(f, self.spec).float().cpu().numpy()))
        return out

    @torch.no_grad()
    def edit(self, features: np.ndarray, text: str, species: str, gender: str, start: int, end: int,
             seed: int = 0, guidance: float = GUIDANCE, res_guidance: float = RES_GUIDANCE, steps: int = STEPS,
             temperature: float = TEMPERATURE, topk: float = TOPK, boundary: int = 8, anchor: str = "world",
             precision: str = "fp32") -> Motion:
        """Regenerate frames [start, end) of a motion (features (T, D), unnormalised) from `text`, keeping the rest.

        The tokens covering the span are masked and decoded given the kept tokens around them; the decoded span is
        blended into the source over `boundary` frames on each side (at most 8). Frames before start - boundary and
        from end + boundary on are the source's own features, bit for bit. With anchor "world" the span's root path
        is bent so that it ends where the source resumes: those frames also keep their world positions. With anchor
        "pose" the span keeps its generated path and the rest of the source follows on from where it ends.
        """
        x = np.asarray(features, dtype=np.float32)
        T, D = x.shape if x.ndim == 2 else (0, 0)
        if x.ndim != 2 or D != self.spec.feature_dim:
            raise ValueError(f"the source must be (T, {self.spec.feature_dim}) features for skeleton "
                             f"{self.spec.name!r}, got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("the source features hold NaN or inf values; give a motion of finite features")
        if not 0 <= start < end <= T:
            raise ValueError(f"span [{start}, {end}) does not lie inside the motion's {T} frames")
        if not 0 <= boundary <= 8:
            raise ValueError(f"the blending boundary must be 0-8 frames, got {boundary}")
        if anchor not in ("world", "pose"):
            raise ValueError(f"anchor must be 'world' or 'pose', got {anchor!r}")
        check_precision(precision, self.device, self.compile)
        if T > self.max_frames:
            raise ValueError(f"the source has {T} frames, more than this model's {self.max_frames}")
        unit = self.unit
        n_tok = math.ceil(T / unit)
        padded = np.concatenate([x, np.repeat(x[-1:], n_tok * unit - T, 0)]) if n_tok * unit > T else x
        xt = self.tokenizer.normalize(torch.from_numpy(padded).to(self.device))[None]
        src_codes = self.tokenizer.encode(xt, self.tok_text(condition_texts([species], [gender])))  # (1, N, Q)
        a_tok, b_tok = start // unit, math.ceil(end / unit)
        keep = src_codes.clone()
        keep[:, a_tok:b_tok] = -1
        generators = [torch.Generator().manual_seed(seed)]
        cond = self.condition([text], [species], [gender], precision)
        n_tokens = torch.tensor([n_tok], device=self.device)
        base = self._base_codes(cond, n_tokens, keep[..., 0], generators, steps, guidance, temperature, topk,
                                precision)
        codes = self._residual_codes(cond, base, keep, generators, res_guidance, temperature, topk, precision)
        # the regenerated span keeps the source's proportions, so that it blends into the kept frames
        gen = self._decode(codes, [species], [gender], self.tokenizer.body_of(xt), precision)[0, :T].double().cpu()
        src = torch.from_numpy(x).double()
        w = torch.zeros(T, dtype=torch.float64)  # weight of the generated motion per frame
        w[start:end] = 1
        for i in range(1, boundary + 1):
            ramp = 1 - i / (boundary + 1)
            if start - i >= 0:
                w[start - i] = ramp
            if end - 1 + i < T:
                w[end - 1 + i] = ramp
        out = src * (1 - w[:, None]) + gen * w[:, None]
        resume = min(T, end + boundary)  # first frame that is the source's own again
        if anchor == "world" and resume < T:
            out = _bend_root(out, src, start, end, resume, self.spec)
        out_f = out.float()
        return Motion(text, species, gender, seed, codes[0].cpu().numpy(), out_f.numpy(),
                      recover_joints(out, self.spec).float().numpy())


class _Clock:
    """`with clock("stage"):` adds the stage's wall time to a dict (synchronising CUDA first); no-op without one."""

    def __init__(self, timings: dict[str, float] | None, device: torch.device):
        self.timings, self.device = timings, device

    @contextmanager
    def __call__(self, stage: str):
        if self.timings is None:
            yield
            return
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        yield
        sync()
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - t0


def _bend_root(out: torch.Tensor, src: torch.Tensor, start: int, end: int, resume: int, spec) -> torch.Tensor:
    """Adjust the root velocities of frames [start, end) so that the heading and ground position integrated up to
    frame `resume` equal the source's: a constant turn-rate offset, then a constant world-frame velocity offset."""
    s = spec.slices
    out = out.clone()
    yaw_i, n = s.root_rot_vel.start, end - start
    src_yaw, src_root = recover_root(src, spec)
    yaw, _ = recover_root(out, spec)
    out[start:end, yaw_i] += (src_yaw[resume] - yaw[resume]) / (2 * n)  # the feature holds half the yaw step
    yaw, root = recover_root(out, spec)
    delta = torch.zeros(3, dtype=out.dtype)
    delta[[0, 2]] = (src_root[resume] - root[resume])[[0, 2]] / n
    # feature frame f moves the root between frames f and f + 1, expressed in the facing frame of yaw[f + 1]
    f = torch.arange(start, end)
    local = yaw_rotate(delta.expand(n, 3), yaw[f + 1])
    v = s.root_lin_vel.start
    out[f, v] += local[:, 0]
    out[f, v + 1] += local[:, 2]
    return out
