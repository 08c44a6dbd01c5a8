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
    clip = load_text_encoder("clip", path="random")
    texts = ["a cat jumps", "a horse gallops forward quickly, then turns around and rears up twice", "dog"]
    emb = clip(texts)
    assert emb.shape == (3, 512)
    # run only up to the longest text's end token, the embeddings are open_clip's own over all 77 positions
    full = torch.nn.functional.normalize(clip.model.encode_text(clip.tokenizer(texts)), dim=-1)
    assert torch.allclose(emb, full, atol=1e-5)
    with pytest.raises(ValueError, match="unknown text encoder 'bert'"):
        load_text_encoder("bert")
    with pytest.raises(ValueError, match="clip text encoder needs its weights: give --text-encoder-path"):
        load_text_encoder("clip")  # never random weights by accident


def test_mpnet_reads_a_sentence_transformers_folder_and_says_what_it_needs(tmp_path):
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

    words = "a cat dog walks jumps sits forward quickly slowly down".split()
    (tmp_path / "vocab.txt").write_text("\n".join(["<s>", "<pad>", "</s>", "<unk>", "<mask>", *words]) + "\n")
    MPNetTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    torch.manual_seed(0)  # a one-layer model of all-mpnet-base-v2's width, random weights: no download in tests
    config = MPNetConfig(vocab_size=len(words) + 5, hidden_size=768, num_hidden_layers=1, num_attention_heads=12,
                         intermediate_size=64)
    MPNetModel(config).save_pretrained(tmp_path)
    enc = load_text_encoder("mpnet", path=str(tmp_path))
    texts = ["a cat walks forward", "a dog jumps", "a cat walks forward"]
    emb = enc(texts)
    assert emb.shape == (3, 768) and torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.equal(emb[0], emb[2]) and not torch.allclose(emb[0], emb[1])
    feats, mask = enc.words(texts)  # <s>, the words, </s>
    assert feats.shape == (3, 6, 768) and mask.sum(1).tolist() == [6, 5, 6]
    pooled = torch.nn.functional.normalize(feats[0].mean(0), dim=0)
    assert torch.allclose(pooled, emb[0], atol=1e-5)  # the sentence embedding is the mean of its word features
    with pytest.raises(ValueError, match="reads all-mpnet-base-v2 from a local directory.*--text-encoder-path"):
        load_text_encoder("mpnet", path=None)
    MPNetModel(MPNetConfig(vocab_size=len(words) + 5, hidden_size=48, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=64)).save_pretrained(tmp_path / "narrow")
    MPNetTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path / "narrow")
    with pytest.raises(ValueError, match="48-wide features; the mpnet text encoder is 768 wide"):
        load_text_encoder("mpnet", path=str(tmp_path / "narrow"))


def test_word_features_are_what_the_sentence_embedding_pools(minilm, tmp_path, monkeypatch):
    texts = ["a dog trots forward, then turns left and sits down", "a cat jumps", "a cat jumps"]
    feats, mask = minilm.words(texts)
    n = [len(ids) for ids in minilm.tokenizer(texts)["input_ids"]]  # [CLS] words [SEP]
    assert feats.shape == (3, max(n), 384) and mask.sum(1).tolist() == n
    assert not feats[1, n[1]:].any() and torch.equal(feats[1], feats[2])
    pooled = torch.stack([f[m].mean(0) for f, m in zip(feats, mask)])
    assert torch.allclose(torch.nn.functional.normalize(pooled, dim=-1), minilm(texts), atol=1e-5)
    # the caption bank keeps both (word features in float16), from one pass of the encoder over each text, and a
    # second bank reads them from the cache files without encoding anything
    from models.text_encoder import CaptionBank
    passes = []
    hidden = minilm._hidden
    monkeypatch.setattr(minilm, "_hidden", lambda t: (passes.append(list(t)), hidden(t))[1])
    bank = CaptionBank("minilm", cache_dir=tmp_path)
    bank.preload(texts + ["dog"], words=texts)
    assert sorted(map(sorted, passes)) == [["a cat jumps", "a dog trots forward, then turns left and sits down"],
                                           ["dog"]]
    assert len(list(tmp_path.glob("words-minilm-*.pt"))) == 1 and len(list(tmp_path.glob("text-minilm-*.pt"))) == 1
    passes.clear()
    again = CaptionBank("minilm", cache_dir=tmp_path)
    again.preload(texts + ["dog"], words=texts)
    f2, m2 = again.words(texts[::-1])
    assert passes == []
    assert torch.equal(m2, mask.flip(0)) and torch.allclose(f2, feats.flip(0), atol=2e-2)
    assert torch.equal(again(texts), bank(texts)) and torch.allclose(again(texts), minilm(texts), atol=1e-6)
    # a bank asked for the sentences alone writes that file only; the words come later on their own
    alone = CaptionBank("minilm", cache_dir=tmp_path / "alone")
    alone.preload(texts)
    assert [f.name.split("-")[0] for f in (tmp_path / "alone").iterdir()] == ["text"]
    assert torch.allclose(alone.words(texts)[0], feats, atol=2e-2)


def test_clip_word_features_end_at_the_token_its_embedding_projects():
    clip = load_text_encoder("clip", path="random")
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
