#!/usr/bin/env python3
"""Bridge calibration texts in the skill format, ending where the sender would answer.

Each line of the output is {"id": ..., "text": ...}: K full demonstrations "input: X\\noutput: Y"
and one query "input: X\\noutput:" (the answer withheld), joined by newlines, exactly the text a
task-vector readout (scan/race --task-vector) reads, so a bridge fitted on the last token of these
rows is fitted where it will be used. The pairs come from function-vectors tasks that have nothing
to do with letters (lookups, translations, morphology), so the skill a scan then carries through
the bridge (skill:first_letter) is never among them. Seeded: the same file every time.

usage: icl_texts.py FV_DIR OUT.jsonl [--per-task N] [--k K] [--seed S]
"""
import argparse
import json
import os
import random
import sys

TASKS = ["antonym", "synonym", "english-french", "english-german", "english-spanish", "country-capital",
         "country-currency", "present-past", "singular-plural", "landmark-country", "person-occupation",
         "product-company"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fv_dir")
    ap.add_argument("out")
    ap.add_argument("--per-task", type=int, default=84)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    lines = []
    for task in TASKS:
        path = os.path.join(a.fv_dir, "abstractive", task + ".json")
        pairs = [(p["input"], p["output"]) for p in json.load(open(path, encoding="utf-8"))
                 if "\n" not in p["input"] and "\n" not in p["output"]]
        if len(pairs) < a.k + 1:
            sys.exit(f"icl_texts: {path}: {len(pairs)} pairs, need {a.k + 1}")
        for i in range(a.per_task):
            pick = rng.sample(pairs, a.k + 1)
            demos = [f"input: {x}\noutput: {y}" for x, y in pick[:-1]]
            text = "\n".join(demos + [f"input: {pick[-1][0]}\noutput:"])
            lines.append(json.dumps({"id": f"{task}-{i}", "text": text}, ensure_ascii=False))
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, a.out)
    print(f"icl_texts: {len(lines)} texts ({len(TASKS)} tasks x {a.per_task}, {a.k} demonstrations + query) -> {a.out}")


if __name__ == "__main__":
    main()
