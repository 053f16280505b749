"""Representation models: the Very Deep VAE (and later the SSL baselines)."""

from radiolatent.models.vdvae import VDVAE, build_vdvae, parse_blocks

__all__ = ["VDVAE", "build_vdvae", "parse_blocks"]
