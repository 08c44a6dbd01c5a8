"""Text to motion codes: MoMask's masked transformer (base layer) and residual transformer (layers 1..Q-1) on
[text, species, gender] condition tokens, the masked-decoding schedule, a length estimator and the pipeline."""
