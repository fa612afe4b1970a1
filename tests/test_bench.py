"""The benchmark harness runs and reports what `make bench` promises (not the speeds themselves)."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from liverkit.kit.profiles import get_profile

spec = importlib.util.spec_from_file_location("bench", Path(__file__).parents[1] / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

CPU = torch.device("cpu")


@pytest.fixture
def one_thread():
    """The bench on one thread (as --threads 1 sets it); the session's thread count is restored after."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_quick_bench_writes_rows_with_the_issue_fields(tmp_path, one_thread):
    out = tmp_path / "results" / "bench.jsonl"
    bench.main(["--quick", "--device", "cpu", "--repeats", "1", "--threads", "1", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    names = [row["name"] for row in rows]
    assert names == [
        "classifier_train_quick",
        "classifier_train_paper",
        "dcgan_train_quick",
        "acgan_train_quick",
        "classifier_fused_quick_k8",
        "paper_profile_estimate",
        "augment_pool_480",
    ]
    assert not list(out.parent.glob(".*tmp*")), "the temporary file was renamed onto the result"
    for row in rows:
        assert isinstance(row["name"], str) and isinstance(row["device"], str) and "1 threads" in row["device"]
        assert isinstance(row["img_per_s"], float) and row["img_per_s"] > 0
        assert isinstance(row["k_models"], int) and row["k_models"] >= 1
        assert row["precision"] in ("fp32", "bf16")
        if "ratio" in row:  # kit-vs-plain rows
            assert row["img_per_s"] == row["kit"] and row["plain"] > 0 and row["timed"]
            assert abs(row["ratio"] - row["kit"] / row["plain"]) < 0.01  # one pair: its ratio is the ratio
    fused = rows[names.index("classifier_fused_quick_k8")]
    assert fused["k_models"] == 8
    estimate = rows[names.index("paper_profile_estimate")]
    assert estimate["rates_from"]["cnn"] == "classifier_train_paper"
    assert estimate["cnn_img_per_s"] == rows[names.index("classifier_train_paper")]["img_per_s"]
    parts = [estimate[f"{kind}_images"] / estimate[f"{kind}_img_per_s"] for kind in ("cnn", "dcgan", "acgan")]
    assert math.isclose(estimate["seconds"], sum(parts), rel_tol=1e-3)


def test_gan_row_trains_the_kit_for_real(tmp_path):
    row = bench.bench_gan(CPU, "acgan", "quick", batch=8, steps=2, epochs=2, repeats=1, bf16=False, tmp=str(tmp_path))
    assert row["name"] == "acgan_train_quick" and row["precision"] == "fp32" and row["epochs"] == 2
    assert row["kit"] > 0 and row["plain"] > 0 and abs(row["ratio"] - row["kit"] / row["plain"]) < 0.01
    assert (tmp_path / "generator.pt").is_file()  # the kit really trained and saved


def test_ratio_is_the_median_of_paired_ratios():
    # pairs: kit 2 s / plain 1 s (0.5), 1 / 1 (1.0), 1 / 1.1 (1.1): median 1.0; best kit 1 s, best plain 1 s
    row = bench._row("x", CPU, 100, ([2.0, 1.0, 1.0], [1.0, 1.0, 1.1]), precision="fp32", timed="test")
    assert row["ratio"] == 1.0 and row["ratio_pairs"] == [0.5, 1.0, 1.1]
    assert row["kit"] == 100.0 and row["plain"] == 100.0 and row["ratio_best"] == 1.0
    assert row["img_per_s"] == 100.0 and row["k_models"] == 1
    assert row["spread"] == 0.3  # interquartile range of (0.5, 1.0, 1.1): 0.75 .. 1.05, over the median 1.0


def test_a_busy_machine_or_spread_pairs_make_a_row_untrusted_and_check_fail():
    quiet = bench.judge({"name": "a", "ratio": 0.97, "others_cores": 0.05, "spread": 0.04, "timed": bench.LOOP_TIMED})
    assert quiet["trusted"] and "warning" not in quiet and bench.verdict([quiet]) == []
    busy = bench.judge({"name": "b", "ratio": 1.0, "others_cores": 0.9, "spread": 0.02, "timed": bench.LOOP_TIMED})
    assert not busy["trusted"] and "other processes used 0.90 cores" in busy["warning"]
    wide = bench.judge({"name": "c", "ratio": 1.0, "others_cores": 0.0, "spread": 0.3, "timed": bench.LOOP_TIMED})
    assert not wide["trusted"] and "spread by 30%" in wide["warning"]
    slow = bench.judge({"name": "d", "ratio": 0.9, "others_cores": 0.0, "spread": 0.01, "timed": bench.LOOP_TIMED})
    assert slow["trusted"] and bench.verdict([slow]) == ["d: kit/plain 0.9 < 0.95"]
    assert len(bench.verdict([quiet, busy, wide, slow])) == 3


def test_quick_notebook_times_are_read_from_a_quick_run_folder(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "run.json").write_text('{"profile": "quick", "data": "phantom", "seed": 0}')
    meta = {"papermill": {"duration": 12.34, "end_time": "2026-12-07T07:00:00"}}
    (tmp_path / "notebooks" / "01_data.ipynb").write_text(json.dumps({"cells": [], "metadata": meta}))
    (tmp_path / "notebooks" / "02_x.failed.ipynb").write_text(json.dumps({"cells": [], "metadata": meta}))
    rows = bench.quick_notebook_rows(tmp_path)
    assert [(r["name"], r["seconds"]) for r in rows] == [("quick_notebook_01_data", 12.3)]
    (tmp_path / "run.json").write_text('{"profile": "smoke", "data": "phantom", "seed": 0}')
    assert bench.quick_notebook_rows(tmp_path) == []  # only a quick run's times are the demo's


def test_the_executor_row_times_both_executors(one_thread):
    row = bench.bench_sweep_executors(repeats=1, per_class=6, epochs=1)
    assert row["threads_seconds"] > 0 and row["processes_seconds"] > 0 and len(row["ratio_pairs"]) == 1
    assert row["faster"] in ("2 one-thread processes", "one process at 2 threads")
    assert row["k_models"] == 18 and row["groups"] == [0, 150]  # 3 folds x 2 groups x (2 inner + 1 outer)


def test_paper_work_counts_the_smoke_profile_by_hand():
    # smoke: 3 folds x 2 repeats = 6 splits, 2 inner folds, groups (0, 100), 2 CNN epochs, sizes (4, 8) per class,
    # 2 GAN repeats, both GANs batch 16 for 2 epochs capped at 4 steps. 180 lesions: 120 training, 60 per inner set.
    classic = (120 + 2 * 60) + (100 + 2 * 100)  # group 0 and group 100, each outer + 2 inner models
    arms = 3 * ((100 + 4 * 3) + (100 + 8 * 3))  # control, DCGAN and ACGAN arms at both sizes, on the chosen 100
    gan_sweep = 100 + arms + 2 * arms  # the classic model, the arms outer, the arms in 2 inner folds
    dcgan_steps = min(2 * (33 // 16), 4)  # 100 / 3 classes = 33 images per DCGAN: 2 steps an epoch
    acgan_steps = min(2 * (100 // 16), 4)
    work = bench.paper_work(get_profile("smoke"), n_lesions=180, n_classes=3)
    assert work == {
        "cnn_classic_images": 6 * 2 * classic,
        "cnn_gan_images": 6 * 2 * gan_sweep,
        "cnn_images": 6 * 2 * (classic + gan_sweep),
        "dcgan_images": 3 * 2 * 3 * dcgan_steps * 16,  # folds x GAN repeats x classes x steps x batch
        "acgan_images": 3 * 2 * acgan_steps * 16,
        "chosen_group": 100,
    }
    assert work["cnn_images"] == 33168 and work["dcgan_images"] == 1152 and work["acgan_images"] == 384


def test_paper_work_of_the_paper_profile():
    work = bench.paper_work(get_profile("paper"))
    n_train = 182 * 2 / 3  # 121.3 lesions train in each of 3 folds; 91 in each of 4 inner folds
    classic = (n_train + 4 * n_train * 3 / 4) + 5 * 44000  # group 0, then the groups 500 ... 15000 (sum 44,000)
    arms = 3 * (6 * 15000 + 3 * 10600)  # 6 sizes (sum 10,600 per class) on the largest group, 3 arms
    assert work["cnn_images"] == round(15 * 150 * (classic + 15000 + arms + 4 * arms))
    assert work["dcgan_images"] == 3 * 5 * 3 * 70 * (5000 // 64) * 64
    assert work["acgan_images"] == 3 * 5 * 50 * (15000 // 64) * 64


def test_estimate_is_work_over_the_best_rates():
    rows = [
        {"name": "classifier_train_paper", "batch": 64, "img_per_s": 100.0, "k_models": 1, "precision": "fp32"},
        {"name": "classifier_fused_paper_k8", "batch": 64, "img_per_s": 400.0, "k_models": 8, "precision": "bf16"},
        {"name": "dcgan_train_paper", "batch": 64, "img_per_s": 50.0},
        {"name": "dcgan_train_paper", "batch": 512, "img_per_s": 5000.0},  # not the profile's batch: ignored
        {"name": "acgan_train_quick", "batch": 64, "img_per_s": 256.0, "g_width": 64},  # scaled by (64/1024)^2
    ]
    work = {"cnn_images": 4000, "dcgan_images": 500, "acgan_images": 30, "chosen_group": 0}
    row = bench.paper_estimate_row(rows, CPU, work)
    assert row["seconds"] == 4000 / 400 + 500 / 50 + 30 / 1.0
    assert row["k_models"] == 8 and row["precision"] == "bf16" and row["acgan_img_per_s"] == 1.0
    assert row["rates_from"]["cnn"] == "classifier_fused_paper_k8" and row["rates_from"]["dcgan"] == "dcgan_train_paper"
    assert bench.paper_estimate_row(rows[:2], CPU, work) is None  # no GAN rates: no estimate


@pytest.mark.parametrize(
    ("model", "slug"),
    [
        ("AMD EPYC 9654 96-Core Processor", "cpu-epyc"),
        ("Intel(R) Xeon(R) Processor", "cpu-xeon"),
        ("Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", "cpu-i7-1185g7"),
    ],
)
def test_result_file_is_named_after_the_day_and_the_cpu(monkeypatch, model, slug):
    monkeypatch.setattr(bench, "_cpu_model", lambda: model)
    assert bench.device_slug(CPU) == slug
    assert bench.default_out(CPU).name.endswith(f"-{slug}.jsonl") and bench.default_out(CPU).parent.name == "results"


@pytest.mark.parametrize(("gpu", "slug"), [("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H200", "h200")])
def test_result_file_is_named_after_the_gpu(monkeypatch, gpu, slug):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: gpu)
    assert bench.device_slug(torch.device("cuda")) == slug


def test_paper_run_stops_at_its_time_limit(tmp_path):
    row = bench.time_paper_run(CPU, limit_s=1.0, overrides=(), profile="smoke", folder=tmp_path)
    assert row["name"] == "paper_fold_repeat_seconds" and not row["completed"]
    assert "time limit" in row["error"] and row["img_per_s"] is None and row["notebook_seconds"].keys() == {"01"}
    assert row["seconds"] < 30 and row["work"]["chosen_group"] == 100  # 02 never ran: the largest group
