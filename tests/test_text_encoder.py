import pytest
import torch

from models.text_encoder import caption_vocabulary, load_text_encoder, unfamiliar_words


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder("minilm")


def test_minilm_gives_unit_embeddings_that_read_the_words(minilm):
    e = minilm(["a dog walks forward", "a dog walks forward", "a puppy strolls ahead", "a horse lies down"])
    assert e.shape == (4, 384) and torch.allclose(e.norm(dim=-1), torch.ones(4), atol=1e-5)
    assert torch.equal(e[0], e[1])
    assert e[0] @ e[2] > e[0] @ e[3]  # a real sentence model: paraphrases are closer than other actions


def test_each_distinct_text_is_encoded_once_and_kept(minilm, monkeypatch):
    minilm.clear_cache()
    seen = []
    original = minilm._encode
    monkeypatch.setattr(minilm, "_encode", lambda texts: (seen.append(list(texts)), original(texts))[1])
    first = minilm(["cat", "dog", "cat", "cat"])
    assert seen == [["cat", "dog"]]
    again = minilm(["dog", "a cat sits down", "cat"])  # only the new text is encoded; the kept ones are reused
    assert seen == [["cat", "dog"], ["a cat sits down"]]
    assert torch.equal(again[0], first[1]) and torch.equal(again[2], first[0])
    assert torch.allclose(again[1], original(["a cat sits down"])[0], atol=1e-6)


def test_the_cache_keeps_the_most_recently_used_texts(minilm, monkeypatch):
    minilm.clear_cache()
    monkeypatch.setattr(minilm, "cache_size", 2)
    seen = []
    original = minilm._encode
    monkeypatch.setattr(minilm, "_encode", lambda texts: (seen.append(list(texts)), original(texts))[1])
    minilm(["a", "b"])
    minilm(["a"])  # "a" is now the most recent
    minilm(["c"])  # evicts "b"
    minilm(["a", "b"])
    assert seen == [["a", "b"], ["c"], ["b"]] and len(minilm._memo) == 2
    assert all(e._base is None for e in minilm._memo.values())  # a kept row does not hold its whole batch


def test_empty_and_long_texts(minilm):
    with pytest.raises(ValueError, match="text 1 is empty"):
        minilm(["a cat", "   "])
    with pytest.warns(UserWarning, match="truncated by the minilm encoder"):
        minilm(["walk " * 400])


def test_clip_with_random_weights_and_unknown_kind():
    clip = load_text_encoder("clip", path=None)
    texts = ["a cat jumps", "a horse gallops forward quickly, then turns around and rears up twice", "dog"]
    emb = clip(texts)
    assert emb.shape == (3, 512)
    # run only up to the longest text's end token, the embeddings are open_clip's own over all 77 positions
    full = torch.nn.functional.normalize(clip.model.encode_text(clip.tokenizer(texts)), dim=-1)
    assert torch.allclose(emb, full, atol=1e-5)
    with pytest.raises(ValueError, match="unknown text encoder 'bert'"):
        load_text_encoder("bert")


def test_word_features_are_what_the_sentence_embedding_pools(minilm, tmp_path):
    texts = ["a dog trots forward, then turns left and sits down", "a cat jumps", "a cat jumps"]
    feats, mask = minilm.words(texts)
    n = [len(ids) for ids in minilm.tokenizer(texts)["input_ids"]]  # [CLS] words [SEP]
    assert feats.shape == (3, max(n), 384) and mask.sum(1).tolist() == n
    assert not feats[1, n[1]:].any() and torch.equal(feats[1], feats[2])
    pooled = torch.stack([f[m].mean(0) for f, m in zip(feats, mask)])
    assert torch.allclose(torch.nn.functional.normalize(pooled, dim=-1), minilm(texts), atol=1e-5)
    # the caption bank keeps them (float16) and a second bank reads them from the cache file
    from models.text_encoder import CaptionBank
    bank = CaptionBank("minilm", cache_dir=tmp_path)
    bank.preload_words(texts)
    assert len(list(tmp_path.glob("words-minilm-*.pt"))) == 1
    again = CaptionBank("minilm", cache_dir=tmp_path)
    again.preload_words(texts)
    f2, m2 = again.words(texts[::-1])
    assert torch.equal(m2, mask.flip(0)) and torch.allclose(f2, feats.flip(0), atol=2e-2)
    # the sentence embeddings go the same way
    bank.preload(texts)
    again.preload(texts)
    assert len(list(tmp_path.glob("text-minilm-*.pt"))) == 1
    assert torch.equal(again(texts), bank(texts)) and torch.allclose(again(texts), minilm(texts), atol=1e-6)


def test_clip_word_features_end_at_the_token_its_embedding_projects():
    clip = load_text_encoder("clip", path=None)
    texts = ["a cat jumps", "a horse gallops forward quickly, then turns around"]
    feats, mask = clip.words(texts)
    last = mask.sum(1) - 1
    assert feats.shape[:2] == mask.shape and feats.shape[2] == 512 and last[0] < last[1]
    ends = feats[torch.arange(2), last] @ clip.model.text_projection
    assert torch.allclose(torch.nn.functional.normalize(ends, dim=-1), clip(texts), atol=1e-5)


def test_unfamiliar_words_are_those_no_training_caption_used_in_any_form():
    vocab = caption_vocabulary(["A dog runs quickly, then jumps.", "The kitten side-steps to the left twice.",
                                "A horse walked 90 degrees"])
    assert vocab == sorted(set(vocab)) and "side-steps" in vocab and "90" in vocab and "A" not in vocab
    # other forms of known words are known: runs / running / ran is not (no rule for it), quick / quickly
    assert unfamiliar_words("The dog is running quick, jumped, walking", vocab) == []
    assert unfamiliar_words("the dog tears along flat out, tears again", vocab) == ["tears", "along", "flat", "out",
                                                                                      "again"]
    assert unfamiliar_words("a cat ran", vocab) == ["cat", "ran"]
    assert unfamiliar_words("", vocab) == [] and unfamiliar_words("a dog", []) == ["dog"]
