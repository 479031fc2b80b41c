"""Data sets as in-memory tensors: synthetic ones here, real importers in later stages."""
