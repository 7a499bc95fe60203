"""A network as data: the layer registry (``layers``), the design and its JSON (``spec``),
per-layer shapes, parameters and MACs (``shapes``), the presets, design codes for links
(``design_code``, ``url_state``), code export (``codegen``) and the torch model (``build``)."""
