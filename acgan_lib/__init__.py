"""acgan_lib: an Auxiliary Classifier GAN (Odena et al. 2017) on MNIST in JAX / Flax NNX.

Modules: ``data`` (MNIST loading), ``models`` (generator, discriminator), ``training`` (the
two-loss steps), ``trainer`` (the loop, logs, checkpoints), ``checkpoint``, ``evaluation`` (digit
judge and sample-quality metrics), ``plotting``, ``cli``.
"""
__version__ = "0.1.0"
