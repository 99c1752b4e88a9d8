"""ConSinGAN training on one image (tohinz/ConSinGAN, DESIGN §5): every official mode, fine-tuning,
checkpoints with exact resume, cancel, progress, our model file and the official folder.

The API::

    from training.consingan import TrainSettings, TrainProgress, ConSinGANTrainer

    settings = TrainSettings.preset("fast" | "standard", mode="harmonization", **overrides)
    #   overrides use the official names: train_stages, niter, lr_g, lr_d, max_size, min_size,
    #   lrelu_alpha, batch_norm, train_depth, lr_scale, alpha, lambda_grad, Dsteps, Gsteps...;
    #   plus ours: official_g_steps (default True), checkpoint_every, preview_every, log_every
    trainer = ConSinGANTrainer(image, settings, device="cpu", checkpoint_dir=None, seed=0)
    #   image: a path or an H x W x 3 uint8 array; device "cpu", "cuda", "cuda:N" or "auto"
    trainer = ConSinGANTrainer.resume(checkpoint_dir, device="cpu")
    trainer = ConSinGANTrainer.finetune(model, naive_image, iterations=500, device="cpu",
                                        checkpoint_dir=None, seed=0, discriminator=None)
    #   model: a ConSinGANModel, our model file or an official folder (harmonization/editing)
    model = trainer.run(progress=callback_or_None, should_stop=callable_or_None)
    #   -> models.consingan.model.ConSinGANModel (what is trained so far); progress gets a
    #   TrainProgress after every iteration; should_stop() is checked between iterations
    trainer.finished                                   # bool
    trainer.total_iterations, trainer.completed_iterations
    trainer.save_model(path, name="...", license="...", source="...")   # our .safetensors
    trainer.export_official(folder)                    # parameters.txt, <d>/netG.pth, ...

The algorithm is the official one (pyramid, stage growth, graded learning rates, noise
amplitudes, WGAN-GP, reconstruction loss, the G-step quirk); the trainer does less work per
iteration than the official code for the same updates (``critic.py``, ``generator.py``).
"""
from .progress import TrainProgress
from .settings import TrainSettings
from .trainer import ConSinGANTrainer

__all__ = ["ConSinGANTrainer", "TrainProgress", "TrainSettings"]
