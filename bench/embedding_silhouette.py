"""Do vowels and consonants come apart in the token embeddings as a run trains?

    python -m bench.embedding_silhouette RUN_DIR [--shuffles 1000] [--seed 0]

For every weight snapshot of the run (core/snapshot_store.py) and its final checkpoint, prints:
- `2-D`: the silhouette (Rousseeuw 1987) of the vowel and the consonant points in the embedding
  map's projection (the first two principal axes), as the Embeddings tab shows it;
- `full`: the same in the whole n_embd-dimensional embedding space;
- after each, `chance 95%` and `p`: the 95th percentile of that silhouette when the vowel /
  consonant labels are shuffled among the same letters (--shuffles draws), and the share of
  draws that reach the real figure: how far the real split is from what any split of these
  letters scores;
- `plane`: the share of the embeddings' variance the projection's plane holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from headwatch.core.char_classes import char_class
from headwatch.core.control import Snapshot
from headwatch.core.embedding_map import (
    TOKEN_EMBEDDING,
    EmbeddingMap,
    embedding_map,
    silhouette,
    vowel_consonant_silhouette,
)
from headwatch.core.runs import load_run
from headwatch.core.snapshot_store import list_snapshots, load_snapshot
from headwatch.core.storage import RunError


def shuffled_silhouettes(
    points: np.ndarray, classes: tuple[str, ...], shuffles: int, rng: np.random.Generator
) -> np.ndarray:
    """The silhouette of the vowel / consonant points (N, D) under `shuffles` random
    relabellings that keep the number of vowels: (shuffles,)."""
    keep = [i for i, c in enumerate(classes) if c in ("vowel", "consonant")]
    labels = np.array([classes[i] for i in keep])
    letters = points[keep]
    return np.array([silhouette(letters, rng.permutation(labels)) for _ in range(shuffles)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--shuffles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        record = load_run(args.run)
        weights = [(info.kind, load_snapshot(info)) for info in list_snapshots(args.run)]
    except RunError as exc:
        print(exc, file=sys.stderr)
        return 2
    if record.checkpoint is not None and all(w["step"] != record.step for _, w in weights):
        weights.append(("final", {"step": record.step, "model": record.checkpoint["model"]}))
    if not weights:
        print(f"{args.run}: has no snapshots and no checkpoint", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    classes = [char_class(ch) for ch in record.tokenizer.chars]
    print(
        f"{args.run}: {classes.count('vowel')} vowels, {classes.count('consonant')} consonants"
        f" of {len(classes)} characters"
    )
    print(
        f"{'step':>6} {'kind':>6} {'2-D':>7} {'chance 95%':>10} {'p':>6}"
        f" {'full':>7} {'chance 95%':>10} {'p':>6} {'plane':>6}"
    )
    previous: EmbeddingMap | None = None
    for kind, w in weights:
        snapshot = Snapshot(0, w["step"], record.model_config, record.tokenizer, w["model"])
        frame = embedding_map(snapshot, previous)
        previous = frame
        if frame.silhouette is None:
            print(f"{frame.step:>6} {kind:>6}  (needs both vowels and consonants)")
            continue
        table = w["model"][TOKEN_EMBEDDING].numpy()
        full = vowel_consonant_silhouette(table, frame.classes)
        row = f"{frame.step:>6} {kind:>6}"
        for value, points in ((frame.silhouette, frame.points), (full, table)):
            chance = shuffled_silhouettes(points, frame.classes, args.shuffles, rng)
            p = float((chance >= value).mean())
            row += f" {value:>7.3f} {np.percentile(chance, 95):>10.3f} {p:>6.3f}"
        print(f"{row} {frame.variance_share:>6.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
