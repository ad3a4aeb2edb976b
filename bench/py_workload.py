"""A small, allocation-heavy Python program for bench/run.py: builds and tears down dicts, lists,
strings and a JSON round trip, the way scripts do. Uses only the standard library.

    python3 py_workload.py [ROUNDS]      (default 4)
"""
import json
import sys


def build(round_index, count):
    records = []
    for i in range(count):
        key = f"user-{round_index}-{i:07d}"
        records.append({"id": i, "name": key, "tags": [key[-3:], str(i % 97)], "score": i * 0.5})
    return records


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    total = 0
    for r in range(rounds):
        records = build(r, 40000)
        text = json.dumps(records)
        again = json.loads(text)
        index = {rec["name"]: rec for rec in again}
        words = " ".join(rec["name"] for rec in records).split()
        total += len(index) + len(words) + len(text)
        del records, again, index, words, text
    print(f"py_workload: {rounds} rounds, {total} units")


if __name__ == "__main__":
    main()
