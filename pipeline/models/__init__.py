"""Model builders: ``build(dataloaders, seed, **config) -> torch.nn.Module``."""
