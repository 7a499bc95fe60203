"""Training a design: the settings (``settings``), devices and memory, the contract every path
calls (``admission``, with ``budget`` and ``trainable``), the loop (``trainer``, ``metrics``,
``evaluate``) and the epoch driver around it (``driver``, with the run-time ``limits``), the
``Training`` protocol (``protocol``), the job, its steering, threads and slots (``job``,
``steering``, ``workers``, ``slots``), the runners (``runner`` local,
``ray_runner``/``ray_worker``) and torchrun (``distributed``)."""
