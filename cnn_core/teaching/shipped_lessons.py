"""The three lessons the Start page lists, each a link a teacher hands out as it is."""

from __future__ import annotations

from cnn_core.design.design_code import decode_design
from cnn_core.teaching.lessons import Lesson, make_lesson

SHAPES = make_lesson(
    "Shapes, padding and stride",
    [("architecture", "Layer 1 is a 5×5 conv with no padding: what shape comes out of it? "
                      "Give it padding 2, then stride 2, and type each new shape before "
                      "the table shows it."),
     ("explain", "Set stride 2. How many output cells does each row get now? Check it "
                 "against the formula, then add padding and count again.")],
    design=decode_design("c8k5-relu-max2-flat-fc10"),
    controls=["editor", "pooling"])

FIRST_LAYER = make_lesson(
    "What the first layer learns",
    [("train", "Before you press Train: what will the 8 kernels look like after one epoch? "
               "Noise, blobs, or edges? Watch them under 'Learning, live'."),
     ("draw", "Draw a 7. Which of the first layer's feature maps light up along its top "
              "bar, and which along its slanted stroke?"),
     ("explain", "Pick the kernel 'trained model, kernel 1'. Where is the output "
                 "highest on the digit: what does this kernel look for?")],
    design=decode_design("c8k5p2-relu-max2-flat-fc10"),
    controls=["steer", "maps"])

OUR_HANDWRITING = make_lesson(
    "Why the net fails on our handwriting",
    [("draw", "Draw five digits your own way and add each to the class set. Does the net "
              "get yours right? Look at 'Why this answer?' when it does not."),
     ("class_data", "Look through the class's drawings: how are ours different from "
                    "MNIST's digits (size, thickness, position, slant)?"),
     ("train", "Train on MNIST and test on the class's drawings. Then train again with "
               "'Augment the digits' on. Which test accuracy is higher, and why?")],
    design=decode_design("c16k3p1-relu-max2-c32k3p1-relu-max2-flat-fc10"),
    controls=["class-set", "why", "maps", "data", "augment"])

LESSONS: tuple[Lesson, ...] = (SHAPES, FIRST_LAYER, OUR_HANDWRITING)
