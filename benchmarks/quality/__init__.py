"""Reading quality on synthetic photographed pages made from MNIST test digits.

`synth` makes the pages (and is used by the condition tests), `generate` writes a set of them
with their ground truth, `score` matches a scan against the truth, and `run` does all three
and writes `results.md`.
"""
