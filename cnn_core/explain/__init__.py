"""What a net sees, number by number: activations and predictions (``activations``), Captum's
"why" (``attribution``), convolution and pooling steps (``stepping``) and the same chain run
backwards to one weight (``backward``), a confusion matrix's cells (``confusion``), the
kernels as they learn (``learning_view``) and the network picture (``svg``)."""
