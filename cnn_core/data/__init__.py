"""Digits in, tensors out: the datasets (``datasets``), the IDX format (``idx``), MNIST loading
and splits (``mnist``), downloading (``download``) and one dataset per server
(``dataset_store``), the class's own drawings (``drawings``, ``class_files``, ``class_data``,
``mixing``), canvas preprocessing (``preprocess``) and augmentation (``augment``)."""
