"""Training loops: the classifier CNN (and, later, the GANs). Checkpoints are written atomically."""
