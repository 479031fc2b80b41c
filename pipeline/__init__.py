"""The science of the pipeline: data, models, training, corruptions, analysis.

Pure PyTorch / numpy. Nothing here imports ``schemas`` or ``populate``, and nothing here
touches a database: tables call into this package, never the other way round.
"""
