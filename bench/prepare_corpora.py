#!/usr/bin/env python3
"""Builds the two corpora of bench/fasttext_compare.sh from installed Debian packages.

fortunes12: language identification. Every fortune cookie of Debian's fortune packages in
  12 languages (fortunes = en, -bg, -br = pt, -cs, -de, -eo, -es, -ga, -it, -pl, -ru, -zh);
  label = the package's language, text = the cookie with its whitespace runs made one space.
  Files that are not UTF-8 are skipped; cookies shorter than 20 characters too; at most
  4000 per language, so no language dominates.
debian-sections: topic classification. Every binary package in `apt-cache dumpavail`
  (Debian 12 main): label = its Section (without "contrib/" or "non-free/"), text = the
  synopsis and long description. Sections with fewer than 400 packages are dropped.

Each corpus is shuffled with a fixed seed and split 80/10/10 into train/valid/test, written
twice: label<TAB>text (.tsv, ember-classify) and __label__X text (.txt, fastText).
Usage: prepare_corpora.py OUT_DIR
"""
import os
import random
import re
import subprocess
import sys
from collections import Counter

LANGS = {"fortunes": "en", "fortunes-bg": "bg", "fortunes-br": "pt", "fortunes-cs": "cs",
         "fortunes-de": "de", "fortunes-eo": "eo", "fortunes-es": "es", "fortunes-ga": "ga",
         "fortunes-it": "it", "fortunes-pl": "pl", "fortunes-ru": "ru", "fortunes-zh": "zh"}


def one_line(text):
    return re.sub(r"\s+", " ", text).strip()


def fortunes():
    rows = []
    for package, lang in LANGS.items():
        files = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                               check=True).stdout.split("\n")
        cookies = []
        for path in sorted(files):
            if "/fortunes/" not in path or path.endswith((".dat", ".u8")) or not os.path.isfile(path):
                continue
            if os.path.islink(path):
                continue
            try:
                text = open(path, encoding="utf-8").read()
            except UnicodeDecodeError:
                continue
            for cookie in re.split(r"\n%\n", text):
                cookie = one_line(cookie)
                if len(cookie) >= 20:
                    cookies.append(cookie[:600])
        random.Random(lang).shuffle(cookies)
        rows += [(lang, c) for c in cookies[:4000]]
    return rows


def debian_sections():
    dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True,
                          check=True).stdout
    rows = []
    for stanza in dump.split("\n\n"):
        section, desc, in_desc = None, [], False
        for line in stanza.split("\n"):
            if line.startswith("Section:"):
                section = line.split(":", 1)[1].strip().split("/")[-1]
            elif line.startswith("Description:"):
                desc, in_desc = [line.split(":", 1)[1]], True
            elif in_desc and line.startswith(" "):
                desc.append("" if line.strip() == "." else line)
            else:
                in_desc = False
        if section and desc:
            rows.append((section, one_line(" ".join(desc))))
    counts = Counter(label for label, _ in rows)
    return [(label, text) for label, text in rows if counts[label] >= 400]


def write(out_dir, name, rows):
    random.Random(13).shuffle(rows)
    n = len(rows)
    splits = {"train": rows[: n * 8 // 10], "valid": rows[n * 8 // 10: n * 9 // 10],
              "test": rows[n * 9 // 10:]}
    os.makedirs(out_dir, exist_ok=True)
    for split, part in splits.items():
        with open(f"{out_dir}/{name}.{split}.tsv", "w", encoding="utf-8") as tsv, \
                open(f"{out_dir}/{name}.{split}.txt", "w", encoding="utf-8") as txt:
            for label, text in part:
                tsv.write(f"{label}\t{text}\n")
                txt.write(f"__label__{label} {text}\n")
    labels = Counter(label for label, _ in rows)
    print(f"{name}: {n} examples, {len(labels)} labels ({', '.join(sorted(labels))}); "
          f"train/valid/test {len(splits['train'])}/{len(splits['valid'])}/{len(splits['test'])}")


if __name__ == "__main__":
    out = sys.argv[1]
    write(out, "fortunes12", fortunes())
    write(out, "debian-sections", debian_sections())
