import numpy as np
import pytest
from matplotlib.image import imread

from handpose.metrics import pck_curve, pck_thresholds
from handpose.viz.curves import plot_loss_curves, plot_pck_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Lightning's CSVLogger: training and validation metrics on separate rows, other cells empty.
METRICS_CSV = """epoch,step,train_loss,val_loss,val_auc
0,9,0.90,,
0,19,0.70,,
0,19,,0.80,0.41
1,29,0.50,,
1,39,0.40,,
1,39,,0.55,0.52
2,49,nan,,
"""


def assert_png(path, width=640, height=480):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.shape[:2] == (height, width)
    assert image.std() > 0  # something was drawn
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_pck_curves_png(tmp_path):
    thresholds = pck_thresholds(0, 30, 20)
    rng = np.random.default_rng(0)
    curves = {
        "ours": (thresholds, pck_curve(rng.gamma(2.0, 3.0, 500), thresholds)),
        "mediapipe": (thresholds.tolist(), pck_curve(rng.gamma(2.0, 2.5, 500), thresholds).tolist()),
    }
    path = plot_pck_curves(curves, tmp_path / "pck.png", unit="px", title="PCK on uci_hand")
    assert path == tmp_path / "pck.png"
    assert_png(path)
    first = path.read_bytes()
    plot_pck_curves({"ours": curves["ours"]}, path)  # overwrites in place
    assert_png(path)
    assert path.read_bytes() != first


def test_pck_curves_reject_empty_or_malformed_input(tmp_path):
    with pytest.raises(ValueError, match="no PCK curves"):
        plot_pck_curves({}, tmp_path / "pck.png")
    with pytest.raises(ValueError, match="'ours'.*same length"):
        plot_pck_curves({"ours": ([0, 10, 20], [0.5, 0.9])}, tmp_path / "pck.png")
    assert not (tmp_path / "pck.png").exists()


def test_loss_curves_from_a_lightning_metrics_csv(tmp_path):
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text(METRICS_CSV)
    out = tmp_path / "plots" / "loss.png"
    assert plot_loss_curves(csv_path, out) == out
    assert_png(out)


def test_loss_curves_from_records_against_epochs(tmp_path):
    records = [
        {"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": float("nan") if e == 0 else 2.0 / e} for e in range(5)
    ]
    assert_png(plot_loss_curves(records, tmp_path / "loss.png"))


def test_loss_curves_reject_input_without_losses(tmp_path):
    with pytest.raises(ValueError, match="no loss values"):
        plot_loss_curves([{"epoch": 0, "step": 9, "val_auc": 0.4}], tmp_path / "loss.png")
    with pytest.raises(ValueError, match="no loss values"):
        plot_loss_curves([{"step": 9, "train_loss": ""}, {"step": 19, "val_loss": "nan"}], tmp_path / "loss.png")
    with pytest.raises(ValueError, match="no rows"):
        plot_loss_curves([], tmp_path / "loss.png")
    empty_csv = tmp_path / "metrics.csv"
    empty_csv.write_text("epoch,step,train_loss\n")
    with pytest.raises(ValueError, match="metrics.csv: no rows"):
        plot_loss_curves(empty_csv, tmp_path / "loss.png")
    assert not (tmp_path / "loss.png").exists()
