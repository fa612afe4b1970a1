"""The benchmark harness runs and reports what `make bench` promises (not the speeds themselves)."""

import importlib.util
from pathlib import Path

import torch

spec = importlib.util.spec_from_file_location("bench", Path(__file__).parents[1] / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_rows_have_the_promised_fields():
    cpu = torch.device("cpu")
    rows = [bench.bench_classifier(cpu, "quick", steps=2, repeats=1, bf16=False), bench.bench_augment_pool(cpu, 3, 1)]
    for row in rows:
        assert {"name", "device", "kit", "plain", "ratio"} <= set(row)
        assert row["kit"] > 0 and row["plain"] > 0
        assert abs(row["ratio"] - row["kit"] / row["plain"]) < 0.01
    assert rows[1]["variants"] == 3 * 480


def test_dcgan_row(tmp_path):
    row = bench.bench_dcgan(torch.device("cpu"), "quick", batch=8, steps=2, repeats=1, bf16=False, tmp=str(tmp_path))
    assert row["name"] == "dcgan_train_quick" and row["precision"] == "fp32"
    assert row["kit"] > 0 and row["plain"] > 0 and abs(row["ratio"] - row["kit"] / row["plain"]) < 0.01
    assert (tmp_path / "generator.pt").is_file()  # the kit really trained and saved


def test_ratio_is_the_median_of_paired_ratios():
    # pairs: kit 2 s / plain 1 s (0.5), 1 / 1 (1.0), 1 / 1.1 (1.1): median 1.0; best kit 1 s, best plain 1 s
    row = bench._row("x", torch.device("cpu"), 100, ([2.0, 1.0, 1.0], [1.0, 1.0, 1.1]))
    assert row["ratio"] == 1.0 and row["ratio_pairs"] == [0.5, 1.0, 1.1]
    assert row["kit"] == 100.0 and row["plain"] == 100.0 and row["ratio_best"] == 1.0
