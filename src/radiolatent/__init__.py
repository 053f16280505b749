"""radiolatent: latent-space representations of radio galaxy images."""

__version__ = "0.1.0"
