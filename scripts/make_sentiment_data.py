#!/usr/bin/python3
"""Writes the small sentiment set bundled with the sentence classifier example.

The sentences are composed for this project from the phrase lists below (English and Korean,
positive and negative), with a fixed seed, so the data is reproducible:
    /usr/bin/python3 scripts/make_sentiment_data.py
writes examples/sentence_classifier/data/{train,test}.tsv as label<TAB>sentence lines.
"""
import os
import random

EN = {
    "subjects": ["the movie", "this film", "the food", "the service", "the hotel", "my new phone",
                 "the book", "this album", "the game", "the staff", "the concert", "the coffee",
                 "the room", "the app", "the class", "the ending", "the soundtrack", "the pizza"],
    "positive": ["was wonderful", "is amazing", "was great", "exceeded my expectations",
                 "is excellent", "made me happy", "was a delight", "is fantastic",
                 "was really good", "is worth every penny", "was beautiful", "is brilliant",
                 "felt perfect", "was fun from start to finish", "is the best I have tried"],
    "negative": ["was terrible", "is awful", "was boring", "was a waste of money",
                 "is disappointing", "made me angry", "was a mess", "is horrible",
                 "was really bad", "is not worth it", "broke after a day", "felt cheap",
                 "was painfully slow", "was the worst I have tried", "left me frustrated"],
    "positive_tail": ["", " and I loved it", " and I would recommend it", ", honestly",
                      " and I will come back"],
    "negative_tail": ["", " and I regret it", " and I want a refund", ", honestly",
                      " and I will not come back"],
}

KO = {
    "subjects": ["이 영화는", "음식이", "서비스가", "호텔이", "새 휴대폰이", "이 책은", "이 앨범은",
                 "게임이", "직원들이", "콘서트가", "커피가", "방이", "앱이", "수업이", "결말이",
                 "음악이", "피자가"],
    "positive": ["정말 좋았어요", "훌륭했어요", "최고였어요", "기대 이상이었어요",
                 "너무 재미있었어요", "아주 만족스러워요", "감동적이었어요", "친절했어요",
                 "완벽했어요", "마음에 들어요", "행복했어요", "멋졌어요"],
    "negative": ["정말 별로였어요", "최악이었어요", "지루했어요", "실망스러웠어요",
                 "너무 느렸어요", "돈이 아까워요", "불친절했어요", "엉망이었어요",
                 "짜증났어요", "형편없었어요", "후회돼요", "싫었어요"],
    "positive_tail": ["", " 추천합니다", " 또 올게요", " 강력 추천해요"],
    "negative_tail": ["", " 비추천입니다", " 환불하고 싶어요", " 다시는 안 살래요"],
}

ENDINGS = [".", "!", "", "..."]


def sentences(lang, label, rng, count, taken):
    out = []
    while len(out) < count:
        s = (rng.choice(lang["subjects"]) + " " + rng.choice(lang[label]) +
             rng.choice(lang[label + "_tail"]) + rng.choice(ENDINGS))
        if lang is EN and rng.random() < 0.5:
            s = s[0].upper() + s[1:]
        if s not in taken:
            taken.add(s)
            out.append((label, s))
    return out


def main():
    rng = random.Random(2024)
    taken = set()
    test, train = [], []
    for lang in (EN, KO):
        for label in ("positive", "negative"):
            test += sentences(lang, label, rng, 45, taken)
            train += sentences(lang, label, rng, 130, taken)
    rng.shuffle(train)
    rng.shuffle(test)
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                        "sentence_classifier", "data")
    for name, rows in (("train.tsv", train), ("test.tsv", test)):
        with open(os.path.join(here, name), "w", encoding="utf-8") as f:
            for label, s in rows:
                f.write(f"{label}\t{s}\n")
    print(f"wrote {len(train)} training and {len(test)} test sentences")


if __name__ == "__main__":
    main()
