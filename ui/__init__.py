"""The UI shell every page shares: session state, the page guard, the live chart, the
"why this answer?" panel. Pages are in pages/, everything else in cnn_core/."""
