"""Model builders: ``build(dataloaders, seed, **config) -> torch.nn.Module``; ``dataloaders`` is a
dataclass of :mod:`pipeline.data.dataloaders` or the model's DataInfo (or a dict of their fields)."""
