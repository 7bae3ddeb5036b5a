"""The Tang corpus, its tokenizer, the n-gram baselines, form and copying measures, and BPE."""

from __future__ import annotations

import hashlib
import lzma
import math
from importlib import resources

import numpy as np
import pytest

from aigc_course import baselines, bpe, tang

QUATRAIN = "牀前看月光，疑是地上霜。舉頭望山月，低頭思故鄉。"


@pytest.fixture(scope="module")
def train():
    return tang.load_poems("train")


@pytest.fixture(scope="module")
def held_out():
    return tang.load_poems("held_out")


def test_shipped_file_is_the_recorded_one():
    name, file_sha, text_sha = tang.SHIPPED
    data = (resources.files("aigc_course") / "_data" / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == file_sha
    assert hashlib.sha256(lzma.decompress(data)).hexdigest() == text_sha


def test_damaged_file_is_refused(monkeypatch):
    from aigc_course.data import IntegrityError

    monkeypatch.setattr(tang, "SHIPPED", (tang.SHIPPED[0], "0" * 64, tang.SHIPPED[2]))
    with pytest.raises(IntegrityError, match="(?s)damaged.*reinstall"):
        tang._read_shipped()


def test_splits_are_the_documented_size_and_disjoint_by_first_line(train, held_out):
    assert (len(train), len(held_out)) == (34_529, 1_852)
    assert sum(len(p.text) for p in train) == 1_535_312
    first = {tang.poem_lines(p.text)[0] for p in train}
    assert not first & {tang.poem_lines(p.text)[0] for p in held_out}
    assert len({p.index for p in train + held_out}) == len(train) + len(held_out)
    assert len({p.text for p in train + held_out}) == len(train) + len(held_out)
    with pytest.raises(ValueError, match="choose one of train, held_out"):
        tang.load_poems("test")


def test_every_shipped_poem_has_the_shape_it_was_selected_for(train, held_out):
    for poem in train + held_out:
        lengths = {len(line) for line in tang.poem_lines(poem.text)}
        assert lengths in ({5}, {7}) and len(tang.poem_lines(poem.text)) in (4, 8), poem
    jingyesi = [p for p in train + held_out if p.title == "靜夜思" and p.author == "李白"]
    assert [p.text for p in jingyesi] == [QUATRAIN]  # the Tang text, not the Ming 床前明月光


def test_poem_prints_one_couplet_per_row():
    poem = tang.Poem(0, "李白", "靜夜思", QUATRAIN)
    assert str(poem) == "李白《靜夜思》\n牀前看月光，疑是地上霜。\n舉頭望山月，低頭思故鄉。"


def test_tokenizer_round_trip_unknowns_and_order(train):
    tok = tang.CharTokenizer.from_poems(train[:500], min_count=2)
    assert tok.chars[:2] == tang.END + tang.UNKNOWN and (tok.end_id, tok.unknown_id) == (0, 1)
    assert set(tok.chars[2:4]) == set("，。")  # the most frequent first
    text = "".join(c for c in QUATRAIN if c in tok.index)
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode("龘，")) == "□，" and tok.unknown("龘，龘") == ["龘"]
    counts = {}
    for p in train[:500]:
        for c in p.text:
            counts[c] = counts.get(c, 0) + 1
    assert len(tok) == 2 + sum(n >= 2 for n in counts.values())
    assert len(tang.CharTokenizer.from_poems(train[:500], 1)) == 2 + len(counts)
    with pytest.raises(ValueError, match="min_count"):
        tang.CharTokenizer.from_poems(train, 0)


def test_poem_stream_and_scored_positions():
    tok = tang.CharTokenizer(tang.END + tang.UNKNOWN + "一二，。")
    poems = [tang.Poem(0, "", "", "一，二。"), tang.Poem(1, "", "", "二，")]
    stream, starts = tang.poem_stream(tok, poems)
    assert tok.decode(stream) == "\n一，二。\n二，\n"
    assert starts.tolist() == [0, 5]
    positions = baselines.scored_positions(stream, starts, poems)
    assert tok.decode(stream[positions]) == "一，二。\n二，\n"


def test_context_windows_pad_each_poem_with_its_start():
    tok = tang.CharTokenizer(tang.END + tang.UNKNOWN + "一二，。")
    x, y = tang.context_windows(tok, [tang.Poem(0, "", "", "一，二。")], context=3)
    assert [tok.decode(row) for row in x] == ["\n\n\n", "\n\n一", "\n一，", "一，二", "，二。"]
    assert tok.decode(y) == "一，二。\n"


def test_unigram_and_bits_per_char():
    log2p = baselines.unigram_log2_probs(np.array([0, 0, 1]), 3)  # add-one: counts 3, 2, 1
    np.testing.assert_allclose(np.exp2(log2p), [0.5, 1 / 3, 1 / 6])
    assert baselines.bits_per_char(np.log2([0.5, 0.25])) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        baselines.bits_per_char(np.log(np.array([0.5, 2.0])))  # a "probability" above 1


def test_bigram_is_witten_bell_and_normalised():
    ids = np.array([0, 1, 0, 2, 0, 1])  # after 0: 1, 2, 1 (3 times, 2 distinct followers)
    model = baselines.BigramModel(ids, 4)
    unigram = np.exp2(baselines.unigram_log2_probs(ids, 4))
    lam = 3 / (3 + 2)
    expected = lam * np.array([0, 2 / 3, 1 / 3, 0]) + (1 - lam) * unigram
    np.testing.assert_allclose(model.next_probs(0), expected)
    np.testing.assert_allclose(model.next_probs(3), unigram)  # never seen: the unigram
    for a in range(4):
        assert model.next_probs(a).sum() == pytest.approx(1.0)


def test_bigram_beats_unigram_on_held_out_poems(train, held_out):
    tok = tang.CharTokenizer.from_poems(train)
    stream, starts = tang.poem_stream(tok, train)
    held, held_starts = tang.poem_stream(tok, held_out[:300])
    positions = baselines.scored_positions(held, held_starts, held_out[:300])
    unigram = baselines.bits_per_char(baselines.unigram_log2_probs(stream, len(tok))[held[positions]])
    bigram = baselines.bits_per_char(baselines.BigramModel(stream, len(tok)).log2_probs(
        held[positions - 1], held[positions]))
    assert bigram < unigram - 1.0 < math.log2(len(tok))


@pytest.mark.parametrize(
    ("text", "right", "lines_ok", "punctuation_ok", "regular"),
    [
        (QUATRAIN, 4, True, True, True),
        (QUATRAIN + "\n", 4, True, True, True),  # the end mark is not part of the poem
        ("牀前看月光，疑是地上霜。舉頭望山月，低頭思鄉。", 3, True, True, False),
        ("牀前看月光，疑是地上霜。舉頭望山月，", 3, False, True, False),
        ("牀前看月光。疑是地上霜，舉頭望山月，低頭思故鄉。", 4, True, False, False),
        ("牀前看月光，疑是地上霜。舉頭望山月，低頭思故鄉", 4, True, False, False),
        ("牀前月光，疑是地上霜。舉頭望山月，低頭思故鄉。", 0, True, True, False),
        ("", 0, False, False, False),
    ],
)
def test_poem_form(text, right, lines_ok, punctuation_ok, regular):
    form = tang.poem_form(text)
    assert (form["right_lines"], form["lines_ok"], form["punctuation_ok"], form["regular"]) == (
        right, lines_ok, punctuation_ok, regular)


def test_form_report_averages_lines_and_poems():
    report = tang.form_report([QUATRAIN, "牀前看月光，疑是地上霜。舉頭望山月，低頭思鄉。"])
    assert report["right_length"] == pytest.approx(7 / 8)
    assert (report["lines_ok"], report["regular"], report["mean_lines"]) == (1.0, 0.5, 4.0)
    with pytest.raises(ValueError):
        tang.form_report([])


def test_real_poems_are_almost_all_regular(held_out):
    report = tang.form_report([p.text for p in held_out])
    assert report["right_length"] == 1.0 and report["lines_ok"] == 1.0
    assert 0.98 < report["regular"] < 1.0  # a few real poems end a first line with ？


def test_ngrams_stay_inside_lines_and_copying_counts_repeats():
    grams = tang.ngrams([QUATRAIN], n=5)
    assert grams == {"牀前看月光", "疑是地上霜", "舉頭望山月", "低頭思故鄉"}
    assert tang.ngrams(["一二三四五六七，"], n=5) == {"一二三四五", "二三四五六", "三四五六七"}
    assert tang.copied_fraction(["牀前看月光，牀前看月光。白日依山盡，"], grams) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="no line of 5"):
        tang.copied_fraction(["一二，"], grams)


def test_bpe_merges_the_most_frequent_pair_first():
    lines = ["何處春", "何處秋", "何處", "春風"]
    merges = bpe.learn_merges(lines, 10)
    assert merges[0] == ("何", "處")  # 3 times; every other pair at most once
    assert len(merges) == 1  # with min_count=2 nothing else repeats
    assert bpe.encode("何處春風", merges) == ["何處", "春", "風"]
    assert bpe.encode("春風", bpe.learn_merges(lines, 10, min_count=1)) == ["春風"]
    assert bpe.learn_merges(lines, 0) == []


def test_bpe_on_the_corpus_shortens_sequences(train):
    lines = [line for p in train[:3000] for line in tang.poem_lines(p.text)]
    merges = bpe.learn_merges(lines, 300)
    assert ("何", "處") in merges[:5]
    tokens = sum(len(bpe.encode(line, merges)) for line in lines[:2000])
    assert tokens < 0.98 * sum(len(line) for line in lines[:2000])
    assert all(len(a + b) >= 2 for a, b in merges)


def test_ngram_bits_scores_every_poem_character_and_end_mark(train, held_out):
    tok = tang.CharTokenizer.from_poems(train[:2000])
    bits = baselines.ngram_bits(tok, train[:2000], held_out[:50])
    assert bits["uniform"] == pytest.approx(math.log2(len(tok)))
    stream, _ = tang.poem_stream(tok, train[:2000])
    unigram = baselines.unigram_log2_probs(stream, len(tok))
    by_hand = [unigram[i] for p in held_out[:50] for i in tok.encode(p.text + tang.END)]
    assert bits["unigram"] == pytest.approx(-np.mean(by_hand))
    assert bits["bigram"] < bits["unigram"] < bits["uniform"]


def test_mlp_baseline_bits_are_its_cross_entropy(train, held_out):
    tok = tang.CharTokenizer.from_poems(train[:300])
    model = baselines.train_mlp(tok, train[:300], steps=3, batch_size=64, embed_dim=8, hidden=16)
    x, y = tang.context_windows(tok, held_out[:10], 8)
    logits = np.asarray(model(x), dtype=np.float64)
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    expected = -logp[np.arange(len(y)), y].mean() / math.log(2)
    assert baselines.mlp_bits(model, tok, held_out[:10]) == pytest.approx(expected, rel=1e-5)
