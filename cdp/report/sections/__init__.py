"""One module per report section; each has ``build(ctx) -> Section`` and reads only what it shows."""
