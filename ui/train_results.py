"""The Train page's results once a training has finished: test accuracy and loss, the
confusion matrix, accuracy per class, the test images it got wrong and why it got one wrong."""

from __future__ import annotations

import math
from collections.abc import Sequence

import streamlit as st

from cnn_core.explain.svg import bar_svg, confusion_svg
from cnn_core.training.admission import Way
from cnn_core.training.evaluate import MAX_MISCLASSIFIED
from cnn_core.training.protocol import Training
from cnn_core.training.trainer import describe_speedups
from ui.app_state import digit_image_bytes
from ui.attribution_view import why_panel
from ui.confusion_view import open_confusion

GALLERY = 24  # mistakes shown (of the evaluation's first MAX_MISCLASSIFIED)


def results(job: Training) -> None:
    evaluation = job.evaluation
    if evaluation is None:
        return
    snap = job.snapshot()
    splits = job.splits
    names = list(splits.classes)
    if splits.test_data == "class":
        test_name = f"the class's {len(splits.test_images):,} drawings" + (
            " held out" if splits.train_data != "dataset" else "")
    elif splits.source == "bundled":
        test_name = f"the {len(splits.test_images):,} held-out digits"
    else:
        test_name = f"the {len(splits.test_images):,} {splits.info.title} test images"
    st.subheader(f"Results on {test_name}")
    c = st.columns(4)
    c[0].metric("Test accuracy", f"{evaluation.accuracy:.2%}")
    c[1].metric("Test loss", f"{evaluation.loss:.3f}")
    c[2].metric("Training time", f"{snap.elapsed_s:.0f} s")
    # "Throughput: 2,578 images/s" read "2,578 ima…" in a quarter of a projector's width
    c[3].metric("Images per second", f"{snap.images_per_second:,.0f}")
    changes = "".join(f"; learning rate {c.learning_rate:g} from step {c.step:,}"
                      for c in snap.lr_changes)
    st.caption(f"Trained on {snap.device}: {job.config.describe()}{changes}. Speed-ups: "
               f"{describe_speedups(job.config, job.device)}.")
    many = len(names) > 10  # 26 letters: each picture takes the page's width, one after the other
    left, right = (st.container(), st.container()) if many else st.columns(2)
    with left:
        tested = [c for c, row in enumerate(evaluation.confusion) if sum(row)]  # a small
        accuracy = [evaluation.per_class_accuracy[c] for c in tested]  # class set lacks some
        floor = math.floor(max(0.0, min(accuracy, default=0.0) - 0.1) * 10) / 10
        # Pictures, not plotly charts: a tab's first plotly chart loads Streamlit's plotly
        # bundle (two such charts cost a fresh tab about 1.4 s of its main thread).
        st.image(bar_svg(accuracy, [names[c] for c in tested], decimals=0 if many else 1,
                         floor=floor),
                 caption=f"Accuracy per {splits.info.noun} (the bars start at {floor:.0%})")
    with right, st.expander("The confusion matrix as a picture, to save or to project"):
        st.image(confusion_svg(evaluation.confusion, names),
                 caption="Confusion matrix: each row a true class, each column what the "
                         "network said; the diagonal is what it got right")
    # The matrix to open takes the page's width: its ten columns and their cells fit there.
    open_confusion(evaluation.confusion, names, splits.test_images, splits.test_labels,
                   evaluation.predictions, evaluation.probabilities, key="train_cells",
                   way=Way.TRAIN_WHY, model=lambda: job.model, spec=job.spec)
    wrong = evaluation.misclassified[:GALLERY]
    st.subheader(f"{splits.info.noun.capitalize()}s it got wrong "
                 f"({len(evaluation.misclassified):,}"
                 f"{'+' if len(evaluation.misclassified) >= MAX_MISCLASSIFIED else ''} of "
                 f"{len(splits.test_labels):,}; the first {len(wrong)})")
    cols = st.columns(8)
    for n, i in enumerate(wrong):
        true = int(splits.test_labels[i])
        predicted = int(evaluation.predictions[i])
        cols[n % 8].image(digit_image_bytes(splits.test_images[i]),
                          caption=f"#{n + 1}: true {names[true]} → said {names[predicted]}")
    if wrong and job.model is not None and len(names) == 10:  # the why panel knows 10 classes
        explain_mistake(job, wrong)


def explain_mistake(job: Training, wrong: Sequence[int]) -> None:
    """The attribution heatmap of one mistake, computed only once a digit is picked."""
    splits, predictions = job.splits, job.evaluation.predictions
    pick = st.selectbox(
        "Why did it get one wrong?", range(len(wrong)), index=None, key="train_why_digit",
        placeholder="Pick a digit above to see which pixels misled it",
        format_func=lambda n: f"#{n + 1}: true {splits.classes[int(splits.test_labels[wrong[n]])]}"
                              f" → said {splits.classes[int(predictions[wrong[n]])]}")
    if pick is not None:
        i = wrong[pick]
        why_panel(job.model, job.spec, splits.test_images[i].numpy() / 255.0,
                  int(predictions[i]), key="train_why", way=Way.TRAIN_WHY,
                  true_label=int(splits.test_labels[i]))

