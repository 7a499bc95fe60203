"""Budgets checked before anything runs: the memory bomb refused with its layer named and a
batch size that fits, the presets allowed, the time bound, the Draw page's bound, and the
pages that must not wait for torch."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import import_design, on_page, wait_data
from hostile_designs import MEMORY_BOMB

from cnn_core.design.presets import PRESETS, PYTORCH_TUTORIAL, SMALL_FAST
from cnn_core.design.report import largest_values
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec
from cnn_core.design.spec import layer as L
from cnn_core.training import budget
from cnn_core.training.admission import PassRequest, Way, admit
from cnn_core.training.budget import Limits, training_memory, training_refusal
from cnn_core.training.settings import recipe
from ui.training_form import form_key

ROOT = Path(__file__).resolve().parent.parent
GB = 1024 * budget.MB
CLASSROOM = Limits(memory_bytes=4 * GB, seconds=300,
                   macs_per_s=2 * budget.MACS_PER_S_PER_CORE)  # the 2-core server


def test_memory_bomb_is_refused_naming_the_layer_and_a_batch_that_fits():
    report = analyze(MEMORY_BOMB)
    assert report.ok and report.trainable  # within every design limit, as the issue says
    why = training_refusal(report, 64, "adam", 3, 55_000, CLASSROOM)
    assert why is not None
    assert "layer 4 (dropout), which keeps 1024x28x28 values per image" in why
    assert "over the 4.0 GB one training may use" in why
    fits = int(why.split("batch size ")[-1].split()[0])
    assert 1 <= fits < 64
    assert training_memory(report, fits, "adam").total <= CLASSROOM.memory_bytes
    assert training_memory(report, fits + 1, "adam").total > CLASSROOM.memory_bytes
    assert budget.memory_refusal(report, fits, "adam", CLASSROOM) is None
    # and its 73 million values per image make even one epoch far too slow here
    assert budget.time_refusal(report, 8_000, 1, CLASSROOM).endswith("not even one epoch fits: "
                                                                      "use fewer or smaller layers")


@pytest.mark.parametrize("limits", [CLASSROOM, Limits.from_env(),
                                    Limits(budget.MIN_DEFAULT_MEMORY, 300, 3e10)],
                         ids=["classroom", "this machine", "smallest default"])
@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_train_at_their_default_batch_size(name, limits):
    report = analyze(PRESETS[name])
    assert training_refusal(report, budget.DEFAULT_BATCH_SIZE, "adam", 3, 8_000, limits) is None
    assert admit(PassRequest(Way.DRAW_MAPS, report, feature_maps=True), limits) is None


def test_presets_train_three_epochs_of_full_mnist_on_the_classroom_server():
    for spec in PRESETS.values():
        assert budget.time_refusal(analyze(spec), 55_000, 3, CLASSROOM) is None


def test_a_long_training_is_refused_with_the_epochs_that_fit():
    # The 822,896,640-MAC design (under the 10^9 limit) at 50 epochs: "ETA 22513 s".
    big = ArchitectureSpec((L("conv2d", out_channels=1024, kernel_size=3, padding=1),
                            L("relu"), L("conv2d", out_channels=100, kernel_size=3, padding=1),
                            L("maxpool2d", kernel_size=4), L("flatten"),
                            L("linear", out_features=10)))
    report = analyze(big)
    assert 5e8 < report.total_macs < 1e9
    why = budget.time_refusal(report, 55_000, 50, CLASSROOM)  # on full MNIST
    assert why is not None and why.startswith("50 epochs over 55,000 digits would take about")
    assert "over the 5 min one training may take" in why
    assert why.endswith("not even one epoch fits: use fewer or smaller layers")
    assert budget.time_refusal(analyze(PYTORCH_TUTORIAL), 55_000, 50, CLASSROOM).endswith(
        f"{budget.max_epochs(analyze(PYTORCH_TUTORIAL), 55_000, CLASSROOM)} epochs would fit")


def test_largest_fitting_batch_is_exact():
    report = analyze(PYTORCH_TUTORIAL)
    for limit in (512 * budget.MB, GB, 4 * GB):
        fits = budget.largest_fitting_batch(report, "sgd", limit)
        assert fits >= 1
        assert training_memory(report, fits, "sgd").total <= limit
        assert training_memory(report, fits + 1, "sgd").total > limit
    assert budget.largest_fitting_batch(report, "adam", 300 * budget.MB) == 0
    assert budget.memory_refusal(report, 1, "adam", Limits(300 * budget.MB, 300, 3e10)) \
        .endswith("not even batch size 1 fits: make the layers smaller")


def test_optimizer_state_adam_twice_sgd_once():
    report = analyze(PYTORCH_TUTORIAL)
    adam, sgd = training_memory(report, 64, "adam"), training_memory(report, 64, "sgd")
    assert adam.optimizer_state == 2 * adam.weights == 2 * sgd.optimizer_state
    assert adam.gradients == adam.weights == 4 * report.total_params


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(budget.MEMORY_ENV, "512")
    monkeypatch.setenv(budget.SECONDS_ENV, "60")
    monkeypatch.setenv(budget.RATE_ENV, "1e9")
    assert Limits.from_env() == Limits(512 * budget.MB, 60.0, 1e9)
    for bad in ("", "lots", "-1", "0", "inf", "nan"):
        monkeypatch.setenv(budget.MEMORY_ENV, bad)
        assert Limits.from_env().memory_bytes == budget.default_memory()
    assert budget.MIN_DEFAULT_MEMORY <= budget.default_memory() <= budget.MAX_DEFAULT_MEMORY


def test_the_default_follows_a_containers_memory_limit(tmp_path, monkeypatch):
    limit = tmp_path / "memory.max"
    monkeypatch.setattr(budget, "CGROUP_LIMITS", (str(limit),))
    limit.write_text("max\n")  # no limit: the machine's memory
    assert budget.machine_memory() > 0
    limit.write_text(f"{int(2.7 * GB)}\n")  # Streamlit Community Cloud's largest
    monkeypatch.setenv("CNN_EXPLAINER_MAX_TRAININGS", "1")
    assert budget.machine_memory() == int(2.7 * GB)
    assert budget.default_memory() == (int(2.7 * GB) - budget.SERVER_RESERVE) // 2
    limit.write_text(f"{690 * budget.MB}\n")  # its smallest
    assert budget.default_memory() == budget.MIN_DEFAULT_MEMORY


def test_the_draw_page_bound_refuses_huge_feature_maps():
    # 1x1 kernels padded by 32 grow the map cheaply to 476x476; then 1,024 channels of it
    wide = ArchitectureSpec((*[L("conv2d", out_channels=1, kernel_size=1, padding=32)] * 7,
                             L("conv2d", out_channels=1024, kernel_size=1),
                             L("maxpool2d", kernel_size=32), L("flatten"),
                             L("linear", out_features=10)))
    report = analyze(wide)
    assert report.trainable and report.layers[7].output_shape == (1024, 476, 476)
    why = admit(PassRequest(Way.DRAW_MAPS, report, feature_maps=True), CLASSROOM)
    assert why is not None and why.startswith("this model's feature maps for one drawing need")
    assert ("over the 256 MB the Draw page's prediction and feature maps may use on this "
            "server; the largest is layer 8 (conv2d), 1024x476x476 values") in why


def test_evaluation_batches_fit_the_budget(bundled):
    """The trainer's validation pass sizes its batches from the largest layer output (probed
    with torch), as the estimate assumes; for the bomb that is far below 1,000."""
    import torch

    from cnn_core.design.build import build_model
    from cnn_core.training.evaluate import largest_output

    for spec in (*PRESETS.values(), MEMORY_BOMB):
        torch.manual_seed(0)
        model = build_model(spec).eval()
        assert largest_output(model, bundled.val_images[:1], "cpu") == \
            largest_values(analyze(spec))
    assert budget.eval_batch_size(largest_values(analyze(MEMORY_BOMB))) < 100


# ---- the command line -----------------------------------------------------------------------
def run_cli(*args, env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "cnn_core", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, **(env or {})})


def test_cli_refuses_the_memory_bomb_in_one_line(tmp_path):
    path = tmp_path / "bomb.json"
    path.write_text(MEMORY_BOMB.to_json_text())
    result = run_cli("train", str(path), env={budget.MEMORY_ENV: "4096"})
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: training at batch size 64 needs about")
    assert "layer 4 (dropout)" in lines[0] and "would fit" in lines[0]


def test_cli_refuses_a_training_over_the_time_limit():
    result = run_cli("train", "--preset", "pytorch-convnet", "--epochs", "50",
                     env={budget.SECONDS_ENV: "60"})
    assert result.returncode == 2 and result.stdout == ""
    last = result.stderr.strip().splitlines()
    assert len(last) == 1 and last[0].startswith("error: 50 epochs over 8,000 digits")


def fresh_python(code: str, timeout: float = 60) -> str:
    """Run ``code`` in a new interpreter (nothing imported yet) from the project's root;
    its stdout, once it has exited with status 0."""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_summary_answers_without_importing_torch(tmp_path):
    path = tmp_path / "design.json"
    path.write_text(json.dumps(PYTORCH_TUTORIAL.to_json()))
    code = ("import sys; from cnn_core.__main__ import main; "
            f"code = main(['summary', {str(path)!r}]); "
            "assert code == 0; assert 'torch' not in sys.modules, 'torch was imported'")
    assert "total params 3,199,106" in fresh_python(code)


def test_the_frame_and_design_page_modules_do_not_import_torch():
    code = ("import sys; import cnn_core.design.spec, cnn_core.design.parse, "
            "cnn_core.design.shapes, cnn_core.training.budget, "
            "cnn_core.design.codegen, cnn_core.training.devices, ui.app_state, "
            "ui.design_state, ui.url_sync, ui.page_guard; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'torchvision')))")
    assert fresh_python(code).strip() == "[]"


def test_the_background_preload_loads_torch_then_captum():
    """Pages wait for torch only; Captum (the Draw page's "why" panel) follows, so the first
    drawing does not pay its ~1 s import."""
    code = ("import sys, time\n"
            "from ui import page_guard as g\n"
            "assert 'captum.attr' not in sys.modules\n"
            "g.preload_torch()\n"
            "deadline = time.monotonic() + 120\n"
            "while 'captum.attr' not in sys.modules or not g.torch_ready():\n"
            "    assert time.monotonic() < deadline, 'not loaded'\n"
            "    time.sleep(0.1)\n"
            "print('loaded')\n")
    assert fresh_python(code, timeout=150).strip() == "loaded"


# ---- the pages ------------------------------------------------------------------------------


def test_design_page_shows_the_limits_before_train_is_pressed(monkeypatch):
    monkeypatch.setenv(budget.MEMORY_ENV, "4096")
    at = on_page("pages/architecture.py")
    note = next(c.value for c in at.caption if "Limits for one training" in c.value)
    assert "4.0 GB of memory and 5 min" in note
    # the session's design, the small preset, at the batch size its recipe starts from
    assert f"batch {recipe(SMALL_FAST)['batch_size']} with Adam needs about" in note
    import_design(at, MEMORY_BOMB)
    warning = next(w.value for w in at.warning if "Limits for one training" in w.value)
    assert "layer 4 (dropout)" in warning and "would fit" in warning


def test_train_page_disables_train_for_the_memory_bomb(monkeypatch):
    monkeypatch.setenv(budget.MEMORY_ENV, "4096")
    at = on_page("pages/architecture.py")
    import_design(at, MEMORY_BOMB)
    at.switch_page("pages/train.py")
    at.run()
    wait_data(at)
    train = next(b for b in at.button if b.label == "Train")
    assert train.disabled
    message = next(e.value for e in at.error if "Training is disabled" in e.value)
    assert f"training at batch size {budget.DEFAULT_BATCH_SIZE} needs about" in message
    assert "layer 4 (dropout)" in message and "would fit" in message
    fits = int(message.split("batch size ")[-1].split()[0])
    batch = max(b for b in (16, 32, 64) if b <= fits) if fits >= 16 else None
    if batch is not None:  # a batch that fits re-enables it
        at.selectbox(key=form_key("batch_size")).set_value(batch).run()
        assert not next(b for b in at.button if b.label == "Train").disabled


def test_train_page_allows_the_default_preset():
    at = on_page("pages/train.py")
    wait_data(at)
    assert not next(b for b in at.button if b.label == "Train").disabled
    assert any(c.value.startswith(":material/speed: Estimated:") for c in at.caption)
