"""ConSinGAN (tohinz/ConSinGAN): growing single-image generator, official-folder import/export."""
