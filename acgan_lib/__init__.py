"""acgan_lib: an Auxiliary Classifier GAN (Odena et al. 2017) on MNIST in JAX / Flax NNX.

Modules: ``data`` (MNIST loading), ``models`` (generator, discriminator, ``generate``),
``conv_transpose`` (the fast transposed convolution the generator uses), ``training`` (the
two-loss steps), ``trainer`` (the loop, logs, checkpoints), ``checkpoint``, ``judge`` (the
independent digit classifier), ``evaluation`` (sample-quality metrics), ``files`` (atomic writes,
the run lock), ``plotting``, ``cli``.
"""
__version__ = "0.1.0"
