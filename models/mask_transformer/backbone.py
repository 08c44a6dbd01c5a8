"""What the masked and the residual transformer share: their config fields, the [text, species, gender]
condition tokens with the learned "no condition" used for classifier-free guidance, and the transformer stack.

A condition is a dict of tensors made by `encode_condition`: "text" (B, E) sentence embeddings and, for
"species" and "gender", either (B, E) text-encoder embeddings of the names (open vocabulary, the default: a
species never seen in training is still read by its name) or (B,) indices into the checkpoint's closed
vocabulary. A model with `text_words` also attends to the text encoder's per-word features, "words" (B, L, E)
with "words_mask" (B, L), placed between the condition tokens and the motion tokens: one sentence embedding
carries a sequence of steps ("trots, turns left, then sits") less usably than its words do (README).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import warnings
from typing import Callable

import torch
from torch import nn

from models.layers import TransformerBlock

NUM_COND_TOKENS = 3
COND_DROPS = ("all", "text")


@dataclass
class TransformerConfig:
    """Fields common to both transformers (each model has its own dataclass extending this)."""
    num_tokens: int = 512  # codebook size of the tokenizer
    num_quantizers: int = 6
    code_dim: int = 512  # width of the code embeddings
    latent_dim: int = 384
    ff_dim: int = 1024
    layers: int = 8
    heads: int = 6
    dropout: float = 0.2
    max_tokens: int = 49  # longest motion in tokens (196 frames at 4 frames per token)
    frames_per_token: int = 4
    text_encoder: str = "minilm"
    cond_dim: int = 384
    cond_drop_prob: float = 0.1  # share of training samples that see the "no condition" tokens
    cond_drop: str = "all"  # what those samples lose: "all" three condition tokens, or only the "text" (and words)
    text_words: int = 0  # attend to the first text_words per-word features of the text (0: the sentence alone)
    species_vocab: list[str] = field(default_factory=list)  # empty: open vocabulary, names read by the text encoder
    gender_vocab: list[str] = field(default_factory=list)
    skeleton: str | dict = "animo30"  # the tokenizer's skeleton
    tokenizer_sha256: str = ""  # weights of the tokenizer whose codes the model predicts


class ConditionTokens(nn.Module):
    """condition dict -> (B, 3, latent): one token each for the text, the species and the gender."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.text = nn.Linear(cfg.cond_dim, cfg.latent_dim)
        self.species = nn.Embedding(len(cfg.species_vocab), cfg.latent_dim) if cfg.species_vocab \
            else nn.Linear(cfg.cond_dim, cfg.latent_dim)
        self.gender = nn.Embedding(len(cfg.gender_vocab), cfg.latent_dim) if cfg.gender_vocab \
            else nn.Linear(cfg.cond_dim, cfg.latent_dim)
        self.role = nn.Parameter(torch.randn(NUM_COND_TOKENS, cfg.latent_dim) * 0.02)
        self.null = nn.Parameter(torch.zeros(NUM_COND_TOKENS, cfg.latent_dim))
        if cfg.cond_drop not in COND_DROPS:
            raise ValueError(f"cond_drop must be one of {', '.join(COND_DROPS)}, got {cfg.cond_drop!r}")
        self.dropped = NUM_COND_TOKENS if cfg.cond_drop == "all" else 1
        self.kept = () if cfg.cond_drop == "all" else ("species", "gender")  # what the unconditional branch sees

    def forward(self, cond: dict[str, torch.Tensor], drop: torch.Tensor | None) -> torch.Tensor:
        """drop (B,) bool: those samples get the learned "no condition" tokens instead (all three, or the text's)."""
        tokens = torch.stack([self.text(cond["text"]), self.species(cond["species"]), self.gender(cond["gender"])], 1)
        if drop is not None:
            lost = drop[:, None, None] & (torch.arange(NUM_COND_TOKENS, device=drop.device) < self.dropped)[:, None]
            tokens = torch.where(lost, self.null.to(tokens.dtype).expand_as(tokens), tokens)
        return tokens + self.role


class Backbone(nn.Module):
    """Condition tokens + motion tokens -> pre-norm transformer -> (B, N, latent) at the motion positions."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cond = ConditionTokens(cfg)
        self.pos = nn.Parameter(torch.randn(cfg.max_tokens + NUM_COND_TOKENS, cfg.latent_dim) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(cfg.latent_dim, cfg.heads, dropout=cfg.dropout, mlp_dim=cfg.ff_dim)
                                    for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.latent_dim)
        self.max_tokens, self.text_words = cfg.max_tokens, cfg.text_words
        if cfg.text_words:
            self.words = nn.Linear(cfg.cond_dim, cfg.latent_dim)
            self.word_pos = nn.Parameter(torch.randn(cfg.text_words, cfg.latent_dim) * 0.02)

    def forward(self, x: torch.Tensor, cond: dict[str, torch.Tensor], valid: torch.Tensor,
                drop: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, latent) motion-token inputs, valid (B, N) True on real tokens -> (B, N, latent).
        Samples with `drop` see neither the words nor the condition tokens (with cond_drop "text": the text's)."""
        B, N, _ = x.shape
        if N > self.max_tokens:
            raise ValueError(f"{N} motion tokens exceed this model's maximum of {self.max_tokens}")
        parts = [self.cond(cond, drop).to(x.dtype) + self.pos[:NUM_COND_TOKENS]]  # (B, 3, latent)
        keys = [valid.new_ones(B, NUM_COND_TOKENS)]
        if self.text_words:
            if "words" not in cond:
                raise ValueError("this model attends to the text's words: its condition needs 'words' and "
                                 "'words_mask' (encode_condition with a words function)")
            w, m = cond["words"][:, : self.text_words], cond["words_mask"][:, : self.text_words]  # (B, L, E), (B, L)
            parts.append(self.words(w.to(self.words.weight.dtype)).to(x.dtype) + self.word_pos[: w.shape[1]])
            keys.append(m if drop is None else m & ~drop[:, None])
        parts.append(x + self.pos[NUM_COND_TOKENS: N + NUM_COND_TOKENS])
        h = torch.cat(parts, 1)  # (B, 3 [+ L] + N, latent)
        mask = torch.cat([*keys, valid], 1)[:, None, None, :]  # (B, 1, 1, 3 [+ L] + N)
        for block in self.blocks:
            h = block(h, mask)
        return self.norm(h[:, -N:])


def guided(forward: Callable[..., torch.Tensor], cond: dict[str, torch.Tensor], scale: float,
           *inputs: torch.Tensor, kept: tuple[str, ...] = ()) -> torch.Tensor:
    """Classifier-free guidance: uncond + scale * (cond - uncond) with both branches in ONE batched forward.

    `forward(*inputs, cond, drop)` returns logits; with scale 1 the unconditional branch cannot matter and is not run.
    The unconditional branch sees no condition but the entries `kept` (the species and gender when a model drops
    only the text), so rows whose inputs and kept entries are equal have equal unconditional logits: it runs once
    per distinct row (at the first masked-decoding step, every prompt of one length starts from the same all-[MASK]
    row, so a batch of 32 such prompts of one performer needs 33 rows rather than 64).
    """
    if scale < 0:
        raise ValueError(f"the guidance scale must be >= 0 (1 = no guidance), got {scale}")
    if scale == 1:
        return forward(*inputs, cond, None).float()
    B = inputs[0].shape[0]
    seen = [*inputs, *(cond[k] if not cond[k].is_floating_point() else cond[k].float().view(torch.int32)
                       for k in kept)]
    rows = torch.cat([t.reshape(B, -1).long() for t in seen], 1)  # (B, everything the branch sees)
    distinct, inverse = torch.unique(rows, dim=0, return_inverse=True)  # (U, ...), (B,) distinct row of each row
    first = torch.full((len(distinct),), B, device=rows.device).scatter_reduce(
        0, inverse, torch.arange(B, device=rows.device), "amin")  # (U,) one row standing for each distinct row
    doubled = [torch.cat([t, t[first]]) for t in inputs]
    cond2 = {k: torch.cat([v, v[first]]) for k, v in cond.items()}
    drop = torch.arange(B + len(first), device=rows.device) >= B
    logits = forward(*doubled, cond2, drop).float()
    with_cond, without = logits[:B], logits[B:][inverse]
    return without + scale * (with_cond - without)


def vocab_index(vocab: list[str], names: list[str], what: str, device) -> torch.Tensor:
    unknown = sorted(set(names) - set(vocab))
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(map(repr, unknown))} for this closed-vocabulary checkpoint; it "
                         f"knows {', '.join(vocab)} (an open-vocabulary checkpoint reads any name by text)")
    return torch.tensor([vocab.index(n) for n in names], device=device)


def encode_condition(cfg: TransformerConfig, embed: Callable[[list[str]], torch.Tensor], texts: list[str],
                     species: list[str], genders: list[str],
                     words: Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]] | None = None
                     ) -> dict[str, torch.Tensor]:
    """Texts and names -> the condition dict the transformers take. `embed` maps texts to (B, E) embeddings;
    `words` (needed by a model with `text_words`) maps them to padded per-word features and their mask."""
    if not (len(texts) == len(species) == len(genders)):
        raise ValueError(f"got {len(texts)} texts, {len(species)} species and {len(genders)} genders; give one each")
    named = [(key, list(names), vocab) for key, names, vocab in
             (("species", species, cfg.species_vocab), ("gender", genders, cfg.gender_vocab))]
    by_text = [names for _, names, vocab in named if not vocab]
    emb = embed(list(texts) + [n for names in by_text for n in names])  # one call: each distinct text once
    B = len(texts)
    out, at = {"text": emb[:B]}, B
    for key, names, vocab in named:
        if vocab:
            out[key] = vocab_index(vocab, names, key, emb.device)
        else:
            out[key], at = emb[at:at + B], at + B
    if cfg.text_words:
        if words is None:
            raise ValueError("this model attends to the text's words; give encode_condition a words function")
        feats, mask = words(list(texts))
        if feats.shape[1] > cfg.text_words:
            warnings.warn(f"texts of more than {cfg.text_words} tokens ({feats.shape[1]} at most): the model reads "
                          f"the first {cfg.text_words} of their words (and the whole sentence embedding)",
                          stacklevel=2)
        out["words"], out["words_mask"] = feats[:, : cfg.text_words].to(emb.device), mask[:, : cfg.text_words].to(
            emb.device)
    return out
