"""SPADE (Park et al. 2019): the semantic-image-synthesis generator, its style encoder, and a fast
inference path for painted label maps."""
from .encoder import ConvEncoder
from .generator import SPADEGenerator, SPADEOptions, SPADEResnetBlock
from .norm import SPADE

__all__ = ["ConvEncoder", "SPADE", "SPADEGenerator", "SPADEOptions", "SPADEResnetBlock"]
