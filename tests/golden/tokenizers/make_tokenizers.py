"""Tokenizer test data and reference ids for tests/test_tokenizers.cpp, from Debian's fortunes
(English, German, Spanish, Italian, Russian, Chinese), with an independent Python
implementation of BERT's WordPiece and GPT-2's byte-level BPE written here from the published
algorithms (google-research/bert tokenization.py, openai/gpt-2 encoder.py, Sennrich et al.'s
BPE learning), using only the standard library.

Writes beside itself:
  sample.txt                  ~120 KB of fortunes (every 15th record) plus hand-written edge
                              cases, records separated by a line "%" (the fortune format)
  vocab.txt                   a small BERT vocabulary made from the sample
  vocab.json, merges.txt      byte-level BPE learnt by train_bpe() on the sample
  bert-tokenizer.json         the same WordPiece as a Hugging Face tokenizer.json (uncased)
  bert-cased-tokenizer.json   cased (BertNormalizer lowercase false)
  gpt2-tokenizer.json         the same BPE as a Hugging Face tokenizer.json
  sample_*.ids                reference ids, one line per record of sample.txt
  fortunes_1mb.txt            the >= 1 MB corpus (files and sizes under
                              /usr/share/games/fortunes) with a hash of each tokenizer's ids

Run: /usr/bin/python3 tests/golden/tokenizers/make_tokenizers.py   (about a minute)
"""
import json
import os
import re
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
FORTUNES = "/usr/share/games/fortunes"
CORPUS = ["people.u8", "science.u8", "computers.u8", "de/witze.u8", "es/refranes.fortunes.u8",
          "es/sabiduria.fortunes.u8", "it/luke.u8", "it/norm.u8", "ru/knowledge.u8",
          "tang300.u8", "song100.u8"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EDGE_CASES = [
    "I'm sure you're right, they've said we'll see: he'd know it's John's. DON'T 'quote'",
    "  two leading spaces, three   inside,\ttab,\n\nblank line and trailing   ",
    "\n\n   \n",
    "用Ember训练模型。東京タワーへ行く 한국어 문장입니다",
    "Café naïve résumé ÀÉÎÕÜ Ångström ﬁne ＦＵＬＬ",
    "ΣΟΦΊΑ ΟΔΟΣ σοφός ΣΑΣ İstanbul STRAẞE",
    "great👍🏽movie 👨\u200d👩\u200d👧 a😀😀b ☃",
    "x" * 101 + " " + "y" * 100,
    "ctrl\x07bell\x01 nul\x00 nbsp\u00a0here line\u2028sep zwj\u200dzw\u200bsp soft\u00adhyphen",
    "numbers 1234567 3.14159 ٣٤٥ ½ ²³ Ⅻ 1st",
    "[CLS] special [SEP] tokens [MASK] in text <|endoftext|> too",
    "punctuation!!! ... ?!? \"quoted\" (paren) [bracket] {brace} $5 ^caret `tick` ~tilde",
    "ends with spaces then newline  \n",
    "'s's 't 're've 'm'll 'd 'x ''",
]


def read_records(path):
    """The fortune format: records separated by a line "%"; a trailing "\\r" dropped."""
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    records, current = [], []
    for line in lines:
        if line.endswith("\r"):
            line = line[:-1]
        if line == "%":
            records.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        records.append("\n".join(current))
    return records


def write_records(path, records):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n%\n".join(records) + "\n")


# ---- BERT: BasicTokenizer + WordpieceTokenizer (google-research/bert tokenization.py) ----

def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text, lower):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    text = "".join(" " + c + " " if is_chinese_char(ord(c)) else c for c in out)
    tokens = []
    for token in text.strip().split():
        if lower:
            token = token.lower()
            token = "".join(c for c in unicodedata.normalize("NFD", token)
                            if unicodedata.category(c) != "Mn")
        word = ""
        for c in token:
            if is_punctuation(c):
                if word:
                    tokens.append(word)
                tokens.append(c)
                word = ""
            else:
                word += c
        if word:
            tokens.append(word)
    return tokens


def wordpiece(word, vocab, unk="[UNK]", max_chars=100):
    if len(word) > max_chars:
        return [vocab[unk]]
    ids, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            piece = ("##" if start > 0 else "") + word[start:end]
            if piece in vocab:
                found = vocab[piece]
                break
            end -= 1
        if found is None:
            return [vocab[unk]]
        ids.append(found)
        start = end
    return ids


def split_specials(text, specials):
    """Special tokens written in the text are themselves (Hugging Face's added tokens)."""
    if not specials:
        return [(False, text)]
    pattern = "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True))
    parts, last = [], 0
    for m in re.finditer(pattern, text):
        parts.append((False, text[last:m.start()]))
        parts.append((True, m.group(0)))
        last = m.end()
    parts.append((False, text[last:]))
    return [p for p in parts if p[1]]


def bert_encode(text, vocab, lower):
    ids = [vocab["[CLS]"]]
    for special, part in split_specials(text, SPECIALS):
        if special:
            ids.append(vocab[part])
        else:
            for word in basic_tokenize(part, lower):
                ids += wordpiece(word, vocab)
    return ids + [vocab["[SEP]"]]


# ---- GPT-2: the pattern with explicit Unicode classes for Python's re (no \p{...}) ----

WHITE_SPACE = ([*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
                0x2029, 0x202F, 0x205F, 0x3000])


def char_class(pred):
    ranges, start = [], None
    for cp in range(0x110000 + 1):
        inside = cp <= 0x10FFFF and not (0xD800 <= cp <= 0xDFFF) and pred(cp)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            ranges.append((start, cp - 1))
            start = None
    return "".join("\\U%08x-\\U%08x" % r for r in ranges)


def gpt2_pattern():
    letters = char_class(lambda cp: unicodedata.category(chr(cp)).startswith("L"))
    numbers = char_class(lambda cp: unicodedata.category(chr(cp)).startswith("N"))
    spaces = "".join("\\U%08x" % cp for cp in WHITE_SPACE)
    return re.compile(
        r"'s|'t|'re|'ve|'m|'ll|'d| ?[%s]+| ?[%s]+| ?[^%s%s%s]+|[%s]+(?![^%s])|[%s]+" %
        (letters, numbers, spaces, letters, numbers, spaces, spaces, spaces))


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
          list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()


def gpt2_bpe(token, ranks):
    """encoder.py's bpe(): merge every occurrence of the best-ranked pair until none is left."""
    word = tuple(token)
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        first, second = best
        new, i = [], 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                new.append(first + second)
                i += 2
            else:
                new.append(word[i])
                i += 1
        word = tuple(new)
    return word


def bpe_encode(text, pattern, encoder, ranks, cache):
    ids = []
    for special, part in split_specials(text, ["<|endoftext|>"]):
        if special:
            ids.append(encoder[part])
            continue
        for piece in pattern.findall(part):
            if piece not in cache:
                spelled = "".join(BYTE_ENCODER[b] for b in piece.encode("utf-8"))
                cache[piece] = [encoder[t] for t in gpt2_bpe(spelled, ranks)]
            ids += cache[piece]
    return ids


def train_bpe(texts, vocab_size, pattern, specials):
    """Most frequent adjacent pair merged each step; ties to the pair whose (left, right) raw
    byte strings sort first; a merge that spells an existing token reuses it."""
    counts = {}
    for text in texts:
        for _, part in [p for p in split_specials(text, specials) if not p[0]]:
            for piece in pattern.findall(part):
                counts[piece] = counts.get(piece, 0) + 1
    order = [b for b in BYTE_ENCODER]  # GPT-2's order: printable bytes first
    tokens = [bytes([b]) for b in order]
    known = set(tokens)
    words = [([bytes([b]) for b in w.encode("utf-8")], c) for w, c in sorted(counts.items())]
    merges = []
    while len(tokens) < vocab_size - len(specials):
        pairs = {}
        for symbols, c in words:
            for p in zip(symbols, symbols[1:]):
                pairs[p] = pairs.get(p, 0) + c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p[0], p[1]))
        merges.append(best)
        joined = best[0] + best[1]
        if joined not in known:
            known.add(joined)
            tokens.append(joined)
        for k, (symbols, c) in enumerate(words):
            if len(symbols) < 2:
                continue
            new, i = [], 0
            while i < len(symbols):
                if i < len(symbols) - 1 and symbols[i] == best[0] and symbols[i + 1] == best[1]:
                    new.append(joined)
                    i += 2
                else:
                    new.append(symbols[i])
                    i += 1
            words[k] = (new, c)
    spell = lambda b: "".join(BYTE_ENCODER[x] for x in b)
    vocab = {spell(t): i for i, t in enumerate(tokens)}
    for s in specials:
        vocab[s] = len(vocab)
    return vocab, [(spell(a), spell(b)) for a, b in merges]


def make_wordpiece_vocab(records):
    """Specials, every character seen, the 2000 commonest words and the 1200 commonest
    word endings as "##" pieces: enough that words split, and rare scripts meet [UNK]."""
    words = {}
    for r in records:
        for w in basic_tokenize(r, True):
            words[w] = words.get(w, 0) + 1
    chars, ends = {}, {}
    for w, c in words.items():
        for i, ch in enumerate(w):
            chars[ch] = chars.get(ch, 0) + c
            chars["##" + ch] = chars.get("##" + ch, 0) + c
        for n in (2, 3, 4):
            if len(w) > n:
                ends["##" + w[-n:]] = ends.get("##" + w[-n:], 0) + c
    by_count = lambda d, n: [k for k, _ in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))][:n]
    vocab = list(SPECIALS)
    for t in by_count(chars, 1400) + by_count(words, 2000) + by_count(ends, 1200):
        if t not in vocab:
            vocab.append(t)
    return vocab


def fnv1a(ids_per_record):
    h = 0xcbf29ce484222325
    for ids in ids_per_record:
        for v in ids + [-1]:  # -1 ends a record
            for b in (v & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"):
                h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def tokenizer_json_bert(vocab, lower):
    ids = {t: i for i, t in enumerate(vocab)}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": ids[s], "content": s, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for s in SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None, "lowercase": lower},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {s: {"id": s, "ids": [ids[s]], "tokens": [s]}
                               for s in ("[CLS]", "[SEP]")}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids}}


def tokenizer_json_gpt2(vocab, merges):
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>",
                          "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "vocab": vocab,
                  "merges": ["%s %s" % m for m in merges]}}


def write_json(name, obj):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def write_ids(name, ids_per_record):
    with open(os.path.join(HERE, name), "w") as f:
        for ids in ids_per_record:
            f.write(" ".join(map(str, ids)) + "\n")


def main():
    corpus = {name: read_records(os.path.join(FORTUNES, name)) for name in CORPUS}
    sample = [r for name in CORPUS for r in corpus[name][::15]] + EDGE_CASES
    write_records(os.path.join(HERE, "sample.txt"), sample)
    sample = read_records(os.path.join(HERE, "sample.txt"))  # exactly what the test reads

    vocab_list = make_wordpiece_vocab(sample)
    with open(os.path.join(HERE, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab_list) + "\n")
    vocab = {t: i for i, t in enumerate(vocab_list)}
    write_json("bert-tokenizer.json", tokenizer_json_bert(vocab_list, True))
    write_json("bert-cased-tokenizer.json", tokenizer_json_bert(vocab_list, False))

    pattern = gpt2_pattern()
    encoder, merges = train_bpe(sample, 800, pattern, ["<|endoftext|>"])
    write_json("vocab.json", encoder)
    with open(os.path.join(HERE, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))
    write_json("gpt2-tokenizer.json", tokenizer_json_gpt2(encoder, merges))
    ranks = {m: i for i, m in enumerate(merges)}
    decoder = {i: t for t, i in encoder.items()}
    byte_decoder = {c: b for b, c in BYTE_ENCODER.items()}

    cache = {}
    results = {}
    for label, records in (("sample", sample),
                           ("corpus", [r for name in CORPUS for r in corpus[name]])):
        bert = [bert_encode(r, vocab, True) for r in records]
        cased = [bert_encode(r, vocab, False) for r in records]
        bpe = [bpe_encode(r, pattern, encoder, ranks, cache) for r in records]
        for r, ids in zip(records, bpe):  # the reference round-trips too
            text = "".join(decoder[i] for i in ids)
            assert bytes(byte_decoder[c] for c in text.replace("<|endoftext|>", "")) == \
                r.replace("<|endoftext|>", "").encode("utf-8")
        results[label] = (records, bert, cased, bpe)
    _, bert, cased, bpe = results["sample"]
    write_ids("sample_wordpiece.ids", bert)
    write_ids("sample_wordpiece_cased.ids", cased)
    write_ids("sample_bpe.ids", bpe)

    records, bert, cased, bpe = results["corpus"]
    with open(os.path.join(HERE, "fortunes_1mb.txt"), "w") as f:
        f.write("# made by make_tokenizers.py: files under %s, their sizes, then for all their\n"
                "# records: count, bytes, and per tokenizer the FNV-1a hash of the ids (int64\n"
                "# little-endian, -1 after each record) and the number of ids\n" % FORTUNES)
        for name in CORPUS:
            f.write("file %s %d\n" % (name, os.path.getsize(os.path.join(FORTUNES, name))))
        f.write("records %d\n" % len(records))
        f.write("bytes %d\n" % sum(len(r.encode("utf-8")) for r in records))
        for label, ids in (("wordpiece", bert), ("wordpiece_cased", cased), ("bpe", bpe)):
            f.write("%s %d %d\n" % (label, fnv1a(ids), sum(len(x) for x in ids)))
    print("sample: %d records, %d bytes; corpus: %d records, %d bytes" %
          (len(sample), sum(len(r.encode()) for r in sample), len(records),
           sum(len(r.encode()) for r in records)), file=sys.stderr)


if __name__ == "__main__":
    main()
