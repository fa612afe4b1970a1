"""Training loops: the classifier CNN and the GANs, one model at a time or fused (their files: liverkit.checkpoints)."""
