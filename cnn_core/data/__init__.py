"""Digits in, tensors out: the datasets (``datasets``), MNIST loading and splits (``mnist``), the
class's own drawings (``class_data``), canvas preprocessing (``preprocess``) and augmentation
(``augment``)."""
