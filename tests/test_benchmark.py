"""``handpose benchmark``: its figures where the answer is known, its table, MediaPipe's side
environment (a fake one: the tests need neither mediapipe nor the network) and its command line."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from handpose.cli.main import main
from handpose.data.spec import parse_data_spec
from handpose.evaluation import mediapipe_runner
from handpose.evaluation.benchmark import format_benchmark_table, run_benchmark, score_found_hands
from handpose.evaluation.mediapipe_side import (
    ENV_VARIABLE,
    RUNNER,
    MediaPipeError,
    SideEnvironment,
    ensure_environment,
    run_mediapipe,
)
from handpose.inference.weights import save_weights
from handpose.structures import HandPrediction, keypoint_box

from geometry_reading import GeometryReadingEstimator, coordinate_image
from test_evaluation import hand, tiny_estimator

#: What the fake runner says for the annotated sides: MediaPipe's labels assume a mirrored image.
MEDIAPIPE_LABEL = {"right": "Left", "left": "Right"}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Three images of one hand each (right, left, left) that store their own pixel coordinates,
    for :class:`GeometryReadingEstimator`, as a COCO-style file."""
    images, annotations = [], []
    for index, sample in enumerate([hand(0, "right"), hand(1, "left"), hand(2, "left", scale=1.5)]):
        cv2.imwrite(str(tmp_path / f"img{index}.png"), cv2.cvtColor(coordinate_image(index), cv2.COLOR_RGB2BGR))
        images.append({"id": index, "file_name": f"img{index}.png", "width": 200, "height": 160})
        x0, y0, x1, y1 = sample.box
        annotations.append(
            {
                "id": index,
                "image_id": index,
                "category_id": 1,
                "hand_type": sample.hand_side,
                "keypoints": np.column_stack([sample.keypoints_2d, sample.visibility]).ravel().tolist(),
                "bbox": [x0, y0, x1 - x0, y1 - y0],
            }
        )
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1}]}))
    return path


def samples_of(dataset: Path) -> list:
    return parse_data_spec(f"coco:{dataset}").read().samples


def truth_of(sample, side=None) -> HandPrediction:
    keypoints = np.asarray(sample.keypoints_2d, dtype=float)
    return HandPrediction(keypoint_box(keypoints), keypoints, np.ones(len(keypoints)), side or sample.hand_side, 1.0)


# --- figures where the answer is known ------------------------------------------------------------


def test_the_truth_scores_perfectly_and_nothing_found_scores_nothing(dataset: Path):
    samples = samples_of(dataset)
    groups = [[0], [1], [2]]
    perfect = score_found_hands(samples, groups, [[truth_of(s)] for s in samples])
    assert (perfect["found"], perfect["of"], perfect["unmatched_per_image"]) == (3, 3, 0.0)
    assert perfect["epe_mean"] == 0.0 and perfect["auc_0_30"] == 1.0 and perfect["pck_at_0.2"] == 1.0
    assert perfect["side_accuracy"] == 1.0 and perfect["side_checked"] == 3
    assert set(perfect["scores"]) == {"image_pixels", "crop_pixels"}  # what handpose eval reports
    nothing = score_found_hands(samples, groups, [[], [], []])
    assert (nothing["found"], nothing["epe_mean"], nothing["auc_0_30"], nothing["side_accuracy"]) == (
        0,
        None,
        0.0,
        None,
    )
    wrong_side = score_found_hands(samples, groups, [[truth_of(s, "right")] for s in samples])
    assert wrong_side["side_accuracy"] == pytest.approx(1 / 3)


def test_a_predictor_that_finds_the_truth_benchmarks_perfectly(monkeypatch, dataset: Path):
    estimator = GeometryReadingEstimator(np.stack([s.keypoints_2d for s in samples_of(dataset)]), padding=2.5)
    monkeypatch.setattr("handpose.inference.weights.load_estimator", lambda path, device="cpu": estimator)
    threads = torch.get_num_threads()
    report = run_benchmark(
        f"coco:{dataset}",
        "truth.pt",
        finder="whole_image",
        backends=["torch"],
        threads=["1", "all"],
        limit=2,
        latency_images=1,
        progress=False,
    )
    assert (report["images"], report["hands"], report["finder"], report["latency_images"]) == (2, 2, "whole_image", 1)
    ((name, system),) = report["systems"].items()
    assert name == "handpose torch"
    assert system["accuracy"]["found"] == 2 and system["accuracy"]["epe_mean"] < 0.25
    assert min(system["accuracy"]["scores"]["image_pixels"]["pck"][0]["values"][1:]) == 1.0  # all within 1.6 px
    assert system["latency"]["1"]["threads"] == 1 and system["latency"]["all"]["threads"] == report["cpus"]
    assert 0 < system["latency"]["1"]["median_ms"] <= system["latency"]["1"]["p90_ms"]
    assert torch.get_num_threads() == threads  # as they were before


def test_both_backends_find_the_same_hands(dataset: Path, tmp_path: Path):
    pytest.importorskip("onnxruntime")
    weights = save_weights(tiny_estimator(), tmp_path / "tiny.pt")
    report = run_benchmark(
        f"coco:{dataset}", weights, finder="whole_image", threads=["1"], latency_images=1, progress=False
    )
    torch_run, onnx_run = (report["systems"][f"handpose {backend}"]["accuracy"] for backend in ("torch", "onnx"))
    assert torch_run["found"] == onnx_run["found"] == 3
    assert torch_run["epe_mean"] == pytest.approx(onnx_run["epe_mean"], abs=0.05)


def test_bad_settings_are_refused_before_anything_runs(dataset: Path):
    for settings, message in [
        ({"backends": ["tensorflow"]}, "backends must be some of"),
        ({"threads": ["0"]}, "positive integer or 'all'"),
        ({"threads": []}, "no thread settings"),
        ({"limit": 0}, "image limit"),
    ]:
        with pytest.raises(ValueError, match=message):
            run_benchmark(f"coco:{dataset}", "default", progress=False, **settings)
    with pytest.raises(ValueError, match="onnx backend only"):
        run_benchmark(f"coco:{dataset}", "model.onnx", progress=False)


# --- the table ------------------------------------------------------------------------------------


def test_the_table_has_a_row_per_system_and_says_what_was_measured():
    accuracy = {"found": 9, "of": 10, "epe_mean": 6.04, "pck_at_0.2": 0.9751, "auc_0_30": 0.7939, "side_accuracy": None}
    latency = {"1": {"median_ms": 20.04, "p90_ms": 31.0}, "all": {"median_ms": 12.0, "p90_ms": 15.55}}
    report = {
        "data": "coco:x.json",
        "images": 10,
        "hands": 10,
        "pixel_space": "original image pixels",
        "latency_images": 5,
        "cpus": 2,
        "threads": {"1": 1, "all": 2},
        "systems": {"handpose torch": {"accuracy": accuracy, "latency": latency}},
    }
    caption, _, table = format_benchmark_table(report).partition("\n\n")
    assert "10 whole images" in caption and "first 5 images" in caption and "@all = 2 threads" in caption
    header, rule, row = table.splitlines()
    assert header.startswith("| system | found/of | EPE (px) | PCK@0.2 | AUC 0-30 px | left/right | median ms @1")
    assert rule.count("---") == header.count("|") - 1
    assert row == "| handpose torch | 9/10 | 6.04 | 0.975 | 0.794 | n/a | 20.0 | 31.0 | 12.0 | 15.6 |"


# --- MediaPipe's side environment, faked ------------------------------------------------------------


def fake_environment(folder: Path, answers: dict[str, dict], exit_status: int = 0) -> SideEnvironment:
    """A folder laid out as the side environment whose ``bin/python`` stands in for MediaPipe's
    Python running the runner: it answers each image path with ``answers[path]`` (a hand record, or
    an error) and records the job it got in ``job_seen.json``."""
    (folder / "bin").mkdir(parents=True)
    (folder / "answers.json").write_text(json.dumps(answers))
    python = folder / "bin" / "python"
    python.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "folder, args = " + repr(str(folder)) + ", sys.argv[2:]\n"
        f"if {exit_status}:\n"
        f"    sys.exit('Traceback (most recent call last):\\nImportError: no mediapipe here')\n"
        "if args == ['--version']:\n"
        "    print(json.dumps({'mediapipe': '0.10.21'}))\n"
        "    sys.exit(0)\n"
        "job = json.load(open(args[0]))\n"
        "json.dump(job, open(folder + '/job_seen.json', 'w'))\n"
        "answers = json.load(open(folder + '/answers.json'))\n"
        "def one(path):\n"
        "    answer = answers[path]\n"
        "    return answer if 'error' in answer else {'ms': 7.0, 'width': 200, 'height': 160, 'hands': [answer]}\n"
        "results = [[one(path) for path in sequence] for sequence in job['sequences']]\n"
        "json.dump({'mediapipe': '0.10.21', 'mode': job['mode'], 'sequences': results}, open(args[2], 'w'))\n"
    )
    python.chmod(0o755)
    return SideEnvironment(python=python, version="0.10.21")


def truthful_answers(samples) -> dict[str, dict]:
    return {
        str(Path(s.image).resolve()): {
            "keypoints": s.keypoints_2d.tolist(),
            "label": MEDIAPIPE_LABEL[s.hand_side],
            "score": 0.9,
        }
        for s in samples
    }


def test_mediapipe_results_become_hands_with_the_side_as_it_appears(dataset: Path, tmp_path: Path):
    samples = samples_of(dataset)
    environment = fake_environment(tmp_path / "venv", truthful_answers(samples))
    paths = [s.image for s in samples]
    found = run_mediapipe(paths, "tracking", sequences=[[2, 0], [1]], environment=environment, warmup=2, cpus=1)
    job = json.loads((tmp_path / "venv" / "job_seen.json").read_text())
    assert job["mode"] == "tracking" and job["warmup"] == 2 and job["cpus"] == 1
    assert job["sequences"] == [
        [str(Path(paths[2]).resolve()), str(Path(paths[0]).resolve())],
        [str(Path(paths[1]).resolve())],
    ]
    for sample, image in zip(samples, found):  # back in the order of the paths given
        (hand_found,) = image.hands
        assert np.array_equal(hand_found.keypoints, sample.keypoints_2d) and image.ms == 7.0
        assert hand_found.hand_side == sample.hand_side and hand_found.hand_score == 0.9
        assert hand_found.finder == "mediapipe"
    with pytest.raises(ValueError, match="exactly once"):
        run_mediapipe(paths, "tracking", sequences=[[0, 1]], environment=environment)


def test_mediapipe_runs_beside_handpose_in_the_benchmark(monkeypatch, dataset: Path, tmp_path: Path):
    samples = samples_of(dataset)
    environment = fake_environment(tmp_path / "venv", truthful_answers(samples))
    estimator = GeometryReadingEstimator(np.stack([s.keypoints_2d for s in samples]), padding=2.5)
    monkeypatch.setattr("handpose.inference.weights.load_estimator", lambda path, device="cpu": estimator)
    report = run_benchmark(
        f"coco:{dataset}",
        "truth.pt",
        finder="whole_image",
        backends=["torch"],
        threads=["1"],
        latency_images=2,
        mediapipe=environment,
        progress=False,
    )
    mediapipe = report["systems"]["MediaPipe Hands 0.10.21"]
    assert mediapipe["accuracy"]["epe_mean"] == 0.0 and mediapipe["accuracy"]["side_accuracy"] == 1.0
    assert mediapipe["latency"]["1"] == {"threads": 1, "images": 2, "median_ms": 7.0, "p90_ms": 7.0}
    assert report["mediapipe"]["model_complexity"] == 1 and report["mediapipe"]["max_num_hands"] == 2
    assert "| MediaPipe Hands 0.10.21 | 3/3 | 0.00 | 1.000 | 1.000 | 1.000 | 7.0 | 7.0 |" in format_benchmark_table(
        report
    )


def test_a_broken_side_environment_or_image_is_one_line_naming_it(monkeypatch, dataset: Path, tmp_path: Path):
    samples = samples_of(dataset)
    answers = truthful_answers(samples)
    answers[str(Path(samples[1].image).resolve())] = {"error": "img1.png: missing or not a readable image"}
    with pytest.raises(MediaPipeError, match="img1.png: missing"):
        run_mediapipe([s.image for s in samples], environment=fake_environment(tmp_path / "a", answers))
    monkeypatch.setenv(ENV_VARIABLE, str(tmp_path / "b"))
    fake_environment(tmp_path / "b", answers, exit_status=1)
    with pytest.raises(MediaPipeError) as error:
        ensure_environment()
    assert str(error.value) == f"MediaPipe environment {tmp_path / 'b'} failed (exit 1): ImportError: no mediapipe here"
    monkeypatch.setenv(ENV_VARIABLE, str(tmp_path / "none"))
    with pytest.raises(MediaPipeError, match="no MediaPipe environment at .*none.*--mediapipe install"):
        ensure_environment()


def test_the_runner_gives_pixels_from_mediapipes_normalised_landmarks(tmp_path: Path):
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.zeros((160, 200, 3), np.uint8))
    landmarks = SimpleNamespace(landmark=[SimpleNamespace(x=0.5, y=0.25)] * 21)
    handedness = SimpleNamespace(classification=[SimpleNamespace(label="Left", score=0.75)])
    hands = SimpleNamespace(
        process=lambda rgb: SimpleNamespace(multi_hand_landmarks=[landmarks], multi_handedness=[handedness])
    )
    result = mediapipe_runner._process(hands, str(image))
    (found,) = result["hands"]
    assert (result["width"], result["height"], found["label"], found["score"]) == (200, 160, "Left", 0.75)
    assert found["keypoints"][0] == [99.5, 39.5]  # the image's edge at 0 -> the first pixel's centre at 0
    assert "error" in mediapipe_runner._process(hands, str(tmp_path / "none.png"))


def test_the_runner_imports_nothing_of_handpose():
    tree = ast.parse(RUNNER.read_text())
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert names and not any(name.split(".")[0] == "handpose" for name in names)


# --- the command line ---------------------------------------------------------------------------------


def test_cli_without_the_mediapipe_environment_says_so_once_and_goes_on(
    monkeypatch, dataset: Path, tmp_path: Path, capsys
):
    monkeypatch.setenv(ENV_VARIABLE, str(tmp_path / "no-venv"))
    weights = save_weights(tiny_estimator(), tmp_path / "tiny.pt")
    out = tmp_path / "out"
    status = main(
        [
            "benchmark",
            "--data",
            f"coco:{dataset}",
            "--weights",
            str(weights),
            "--finder",
            "whole_image",
            "--backends",
            "torch",
            "--threads",
            "1",
            "--limit",
            "2",
            "--latency-images",
            "1",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert status == 0
    notes = [line for line in captured.err.splitlines() if "MediaPipe" in line]
    assert len(notes) == 1 and notes[0].startswith("MediaPipe left out: no MediaPipe environment at")
    report = json.loads((out / "benchmark.json").read_text())
    assert list(report["systems"]) == ["handpose torch"] and report["mediapipe"] is None
    assert (out / "benchmark.md").read_text() == format_benchmark_table(report) + "\n"
    assert "| handpose torch | " in captured.out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--threads", "1,none"], "positive integer or 'all'"),
        (["--backends", "torch,tf"], "backends must be some of"),
        (["--limit", "0"], "image limit must be at least 1"),
        (["--weights", "none.pt"], "none.pt: weights file is missing"),
    ],
)
def test_cli_refuses_bad_arguments_in_one_line(dataset: Path, capsys, arguments: list[str], message: str):
    assert main(["benchmark", "--data", f"coco:{dataset}", "--mediapipe", "off", *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and len(error.splitlines()) == 1


def test_cli_names_a_data_spec_that_does_not_exist(tmp_path: Path, capsys):
    assert main(["benchmark", "--data", f"coco:{tmp_path / 'none.json'}", "--mediapipe", "off"]) == 2
    assert "none.json does not exist" in capsys.readouterr().err
