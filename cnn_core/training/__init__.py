"""Training a design: the settings (``settings``), devices and memory, the contract every path
calls (``admission``, with ``budget`` and ``trainable``), the loop (``trainer``, ``metrics``,
``evaluate``), run-time limits (``limits``), the job and its slots (``job``, ``slots``), the
runners (``runner`` local, ``ray_runner``/``ray_worker``) and torchrun (``distributed``)."""
