"""A network as data: the layer registry (``layers``), the design (``spec``), its one parser
(``parse``) and its values checked into settings (``resolve``); the shape engine (``shapes``)
and what it reports, per layer and in total, activation memory included (``report``), shown
as text (``formatting``); editing a design step by step (``editing``); the presets, design
codes for links (``design_code``, ``url_state``), code export (``codegen``) and the torch
model (``build``)."""
