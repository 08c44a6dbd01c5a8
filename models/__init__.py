"""ZooMotion models: the motion tokenizer (vq/), text encoders and the shared layers they use."""
