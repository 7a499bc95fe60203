"""What a net sees, number by number: activations and predictions (``activations``), Captum's
"why" (``attribution``), convolution and pooling steps (``stepping``), the kernels as they
learn (``learning_view``) and the network picture (``svg``)."""
