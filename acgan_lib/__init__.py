"""acgan_lib: an Auxiliary Classifier GAN (Odena et al. 2017) on MNIST in JAX / Flax NNX.

Modules, one concern each:

* the model and its training: ``models`` (the generator and the discriminator, ``generate``),
  ``conv_transpose`` (the fast transposed convolution the generator uses), ``training`` (the
  two-loss steps and the reference's Adam), ``config`` (``TrainConfig``: every setting of a run,
  its help and its rule), ``trainer`` (the loop), ``runlog`` (``losses.csv``), ``checkpoint``,
  ``parallel`` (data parallelism over a device mesh), ``toy`` (the 2-D toy ACGAN of notebook 2);
* judging and showing: ``judge`` (the independent digit classifier), ``evaluation``
  (sample-quality metrics), ``summary`` (layer tables), ``plotting``, ``diagrams`` (the networks, the
  transposed convolution and the training steps drawn), ``demo`` (the local web page);
* plumbing: ``data`` (MNIST loading), ``pretrained`` (the shipped weights), ``files`` (atomic
  writes, the run lock, where commands may write), ``interrupts`` (Ctrl-C / SIGTERM: exit 130),
  ``compile_cache`` (compiled programs kept on disk), ``exercises``
  (the notebooks' checked exercises), ``step_checks`` (the learner's hand-written updates compared
  with the library's), ``argtypes`` (the command line's number options), ``cli`` (``python -m acgan_lib``).
"""
__version__ = "0.1.0"
