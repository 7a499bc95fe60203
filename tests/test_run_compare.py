"""The comparison data: designs layer by layer with the layers that differ marked."""

from cnn_core.design.presets import LENET5, SMALL_FAST
from cnn_core.runs.compare import curve_rows, design_diff
from cnn_core.runs.records import RunRecord


def record(run_id: int, name: str, design: dict, epochs: list) -> RunRecord:
    return RunRecord(run_id, 0.0, 1.0, "finished", "", name, "", "cli", "CPU", 1, 1, None, 1.0,
                     0.9, False, True, None, design=design, epochs=epochs)


def test_design_diff_marks_settings_not_shapes():
    a = record(1, "small", SMALL_FAST.to_json(), [])
    b = record(2, "lenet", LENET5.to_json(), [])
    diff = design_diff([a, b])
    assert diff.labels == ["#1 small", "#2 lenet"]
    assert diff.rows[0] == ["conv2d 16, k3, s1, p1 → 16x28x28", "conv2d 6, k5, s1, p2 → 6x28x28"]
    assert diff.rows[1] == ["relu → 16x28x28", "relu → 6x28x28"]
    assert diff.differs[:3] == [True, False, False]  # relu and pooling: same layer
    assert diff.rows[-1] == ["", "linear 84→10 → 10"] and diff.differs[-1]
    same = design_diff([a, record(3, "again", SMALL_FAST.to_json(), [])])
    assert not any(same.differs)


def test_curve_rows_against_epoch_and_seconds():
    a = record(1, "small", SMALL_FAST.to_json(),
               [{"epoch": 1, "elapsed_s": 2.5, "val_accuracy": 0.9, "val_loss": 0.3}])
    assert curve_rows([a]) == [{"run": "#1 small", "epoch": 1, "seconds": 2.5,
                                "validation accuracy": 0.9, "validation loss": 0.3}]
