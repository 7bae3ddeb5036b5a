"""A tiny byte-pair encoding (BPE, 字节对编码; Sennrich et al., 2016) over characters.

BPE starts from single characters and repeatedly merges the most frequent adjacent pair of
tokens into a new token, so frequent words and phrases (何處, 不知, 萬里) become one token.
GPT-2 runs it over bytes with a 50,257-token vocabulary; here it runs over the characters of
the poems' lines (never across punctuation) so that chapter 08 can show what subwords change:
shorter sequences and a bigger vocabulary, and tokens that no longer count characters.
"""

from __future__ import annotations

import collections
import heapq

__all__ = ["learn_merges", "encode"]


def _pairs(word: tuple[str, ...]) -> collections.Counter:
    return collections.Counter(zip(word, word[1:], strict=False))


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def learn_merges(lines: list[str], n_merges: int, min_count: int = 2) -> list[tuple[str, str]]:
    """The first ``n_merges`` merges BPE learns on ``lines``, in order.

    Each step merges the most frequent adjacent pair (ties: the pair that sorts first), and
    stops early when no pair occurs ``min_count`` times. Only the lines that contain the
    merged pair are re-counted, with a heap of candidate pairs, so a thousand merges over the
    whole corpus take seconds rather than minutes.
    """
    if not isinstance(n_merges, int) or n_merges < 0:
        raise ValueError(f"n_merges must be a non-negative integer, got {n_merges!r}")
    counts = collections.Counter(tuple(line) for line in lines if line)
    words = list(counts)
    freq = [counts[w] for w in words]
    pair_counts: collections.Counter = collections.Counter()
    where: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
    for i, word in enumerate(words):
        for pair, n in _pairs(word).items():
            pair_counts[pair] += n * freq[i]
            where[pair].add(i)
    heap = [(-n, pair) for pair, n in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges and heap:
        negative, pair = heapq.heappop(heap)
        if -negative != pair_counts.get(pair, 0):
            continue  # stale entry: the count changed since it was pushed
        if -negative < min_count:
            break
        merges.append(pair)
        changed: set[tuple[str, str]] = set()
        for i in where.pop(pair):
            old, new = _pairs(words[i]), None
            words[i] = _merge(words[i], pair)
            new = _pairs(words[i])
            for p, n in old.items():
                pair_counts[p] -= n * freq[i]
                changed.add(p)
            for p, n in new.items():
                pair_counts[p] += n * freq[i]
                where[p].add(i)
                changed.add(p)
        for p in changed:
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], p))
            else:
                pair_counts.pop(p, None)
    return merges


def encode(line: str, merges: list[tuple[str, str]]) -> list[str]:
    """Split ``line`` into BPE tokens: apply the merges in the order they were learned."""
    word = tuple(line)
    rank = {pair: r for r, pair in enumerate(merges)}
    while len(word) > 1:
        best = min(zip(word, word[1:], strict=False), key=lambda p: rank.get(p, len(rank)))
        if best not in rank:
            break
        word = _merge(word, best)
    return list(word)
