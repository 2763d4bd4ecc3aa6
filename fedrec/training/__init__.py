"""Local training and the server step: losses, negative sampling, a benign user's gradients, the update of Θ."""
