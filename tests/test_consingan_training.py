"""The ConSinGAN trainer: every mode, the official schedule and learning rates, exact resume,
checkpoints, progress, fine-tuning, model file / official folder outputs, the CLI, bad input.

Tiny images (24x32), 8 channels, 2-3 stages of a few iterations; one CPU thread (the networks are
too small for a second one to help).
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from models.consingan.official import load_folder
from models.errors import InputError
from models.modelfile import load_model_file
from models.registry import build_networks
from training.consingan import ConSinGANTrainer, TrainProgress, TrainSettings
from training.consingan import state as ckpt_state
from training.consingan.augment import harmonization_augment, shuffle_grid
from training.consingan.baseline import official_step
from training.consingan.critic import AutogradCritic, FastCritic
from training.consingan.stage import lr_factor
from training.errors import TrainingError

MODES = ("generation", "retarget", "harmonization", "editing", "animation")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 32)[None, :, None] * np.ones((24, 1, 3))
    return np.clip(base + rng.normal(0, 40, (24, 32, 3)), 0, 255).astype(np.uint8)


def tiny(mode="generation", **kw) -> TrainSettings:
    values = dict(train_stages=3, niter=3, min_size=12, max_size=32, nfc=8, log_every=2,
                  preview_every=2, checkpoint_every=0)
    values.update(kw)
    return TrainSettings.preset("fast", mode=mode, **values)


def states_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----- settings -------------------------------------------------------------------------------
def test_presets_follow_the_official_defaults():
    std = TrainSettings.preset("standard", mode="generation")
    assert (std.train_stages, std.niter, std.lr_g, std.lr_d, std.beta1, std.gamma, std.alpha,
            std.lambda_grad, std.Dsteps, std.Gsteps, std.train_depth, std.lr_scale, std.max_size,
            std.min_size, std.lrelu_alpha, std.batch_norm, std.official_g_steps) == (
        6, 2000, 5e-4, 5e-4, 0.5, 0.1, 10.0, 0.1, 3, 3, 3, 0.1, 250, 25, 0.05, False, True)
    harm = TrainSettings.preset("standard", mode="harmonization")
    assert (harm.train_stages, harm.min_size, harm.lrelu_alpha, harm.niter, harm.batch_norm) == (
        3, 120, 0.3, 1000, True)
    assert TrainSettings.preset("standard", mode="animation").min_size == 20
    fast = TrainSettings.preset("fast", mode="generation")
    assert (fast.train_stages, fast.max_size, fast.batch_norm) == (3, 160, True)
    assert 450 <= fast.total_iterations <= 550
    custom = TrainSettings.preset("standard", mode="editing", niter=7, batch_norm="false")
    assert (custom.niter, custom.batch_norm, custom.train_mode) == (7, False, "editing")


@pytest.mark.parametrize("bad, message", [
    (dict(mode="painting"), "unknown train_mode"),
    (dict(nitre=3), "unknown ConSinGAN setting"),
    (dict(niter=0), "niter must be positive"),
    (dict(min_size=5), "min_size 5 is too small"),
    (dict(lr_g="fast"), "expected float"),
])
def test_bad_settings_are_named(bad, message):
    with pytest.raises(InputError, match=message):
        TrainSettings.preset("standard", **bad)


# ----- the modes ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_trains_and_changes_the_weights(image, mode):
    trainer = ConSinGANTrainer(image, tiny(mode, niter=2), seed=1)
    trainer.start_stage()
    g0 = copy.deepcopy(trainer.model.generator.state_dict())
    d0 = copy.deepcopy(trainer.D.state_dict())
    reports: list[TrainProgress] = []
    model = trainer.run(progress=reports.append)
    assert trainer.finished and trainer.completed_iterations == trainer.total_iterations == 6
    assert model.num_stages == 3 and model.train_mode == mode
    assert not torch.equal(model.generator.tail[0].weight.cpu(), g0["tail.0.weight"])
    assert not torch.equal(trainer.D.tail.weight, d0["tail.weight"])
    losses = reports[-1].losses
    assert set(losses) == {"D_real", "D_fake", "gradient_penalty", "G_adv", "reconstruction"}
    assert all(np.isfinite(v) for v in losses.values())
    out = model.reconstruct()
    assert out.shape[2:] == (24, 32) and torch.isfinite(out).all()


def test_fixed_inputs_per_mode(image):
    for mode, expect in (("generation", "real"), ("harmonization", "real"),
                         ("animation", "noise"), ("editing", "noisy real")):
        trainer = ConSinGANTrainer(image, tiny(mode), seed=0)
        trainer.start_stage()
        z0, real0 = trainer.model.fixed_noise[0], trainer.model.reals[0]
        diff = float((z0 - real0).abs().max())
        assert (diff == 0) == (expect == "real"), mode
        if expect == "noisy real":
            assert 0 < float((z0 - real0).std()) < 0.2
    gen = ConSinGANTrainer(image, tiny("generation"), seed=0)
    ret = ConSinGANTrainer(image, tiny("retarget"), seed=0)
    for t in (gen, ret):
        t.start_stage()
        t.iteration = t.settings.niter
        t.start_stage()
    h, w = gen.reals[1].shape[2:]
    assert gen.model.fixed_noise[1].shape == (1, 8, h + 6, w + 6)  # edge noise, + 2*num_layer
    assert ret.model.fixed_noise[1].shape == (1, 8, h, w)


# ----- learning rates, frozen stages, noise amplitude ----------------------------------------
def test_learning_rate_grading_and_frozen_stages(image):
    s = tiny(train_stages=4, niter=5, train_depth=2, lr_g=1e-3, lr_d=2e-3, lr_scale=0.5)
    trainer = ConSinGANTrainer(image, s, seed=0)
    expected = {0: [1e-3, 1e-3, 1e-3], 1: [5e-4, 1e-3, 5e-4, 1e-3], 2: [5e-4, 1e-3, 1e-3],
                3: [5e-4, 1e-3, 1e-3]}
    for d in range(4):
        trainer.start_stage()
        run, G = trainer.stage_run, trainer.model.generator
        run.set_lr(0)
        assert [g["lr"] for g in run.optG.param_groups] == pytest.approx(expected[d])
        assert [g["lr"] for g in run.optD.param_groups] == pytest.approx([2e-3])
        assert run.optD.defaults["betas"] == run.optG.defaults["betas"] == (0.5, 0.999)
        groups = [set(map(id, g["params"])) for g in run.optG.param_groups]
        trained = [j for j in range(d + 1) if set(map(id, G.body[j].parameters())) in groups]
        assert trained == list(range(max(0, d - 1), d + 1))
        head_trains = set(map(id, G.head.parameters())) in groups
        assert head_trains == (d < 2)
        in_optimizer = {k for k, v in G.named_parameters() if any(id(v) in g for g in groups)}
        assert in_optimizer == {k for k, v in G.named_parameters() if v.requires_grad}
        before = {k: v.clone() for k, v in G.named_parameters()}
        for i in range(s.niter):
            run.iteration(i)
        for k, v in G.named_parameters():
            assert torch.equal(v, before[k]) == (k not in in_optimizer), k
        trainer.iteration = s.niter
    run.set_lr(4)  # 0.8 * 5 = 4: the official MultiStepLR milestone
    assert [g["lr"] for g in run.optG.param_groups] == pytest.approx([5e-5, 1e-4, 1e-4])
    assert lr_factor(3, 5, 0.1) == 1.0 and lr_factor(4, 5, 0.1) == 0.1
    assert lr_factor(10, 7, 0.1) == 1.0  # 0.8 * 7 is not a whole step: never fires officially


def test_noise_amplitude_is_a_tenth_of_the_rmse_at_stage_start(image):
    trainer = ConSinGANTrainer(image, tiny(noise_amp=0.1), seed=3)
    trainer.run(should_stop=lambda: trainer.stage == 0 and trainer.iteration == 3)
    G = trainer.model.generator
    before = copy.deepcopy(G)
    trainer.start_stage()
    m = trainer.model
    assert float(m.noise_amp[0]) == 1.0
    before.grow()
    with torch.no_grad():
        amps = m.noise_amp.clone()
        amps[1] = 0
        rec = before(list(m.fixed_noise), m.reals_shapes, amps)
        rmse = torch.sqrt(F.mse_loss(rec, m.reals[1]))
    assert float(m.noise_amp[1]) == pytest.approx(0.1 * float(rmse), rel=1e-6)


# ----- the fast step is the official step ----------------------------------------------------
@pytest.mark.parametrize("mode, batch_norm", [("generation", False), ("harmonization", True)])
def test_fast_iteration_matches_the_official_one(image, mode, batch_norm):
    def at_stage_2():
        t = ConSinGANTrainer(image, tiny(mode, train_depth=1, batch_norm=batch_norm), seed=0)
        t.run(should_stop=lambda: t.stage == 1 and t.iteration == 3)
        t.start_stage()
        t.model.double()
        t.D.double()
        t.stage_run = t._make_stage_run()
        t.stage_run.set_lr(0)
        return t
    fast, official = at_stage_2(), at_stage_2()
    noise = [n.double() for n in fast.stage_run.inputs.draw()]
    weights = [torch.rand(1, 1, dtype=torch.float64) for _ in range(3)]
    ours = fast.stage_run.step(noise, weights)
    theirs = official_step(official.stage_run, noise, weights)
    for k, v in theirs.items():
        assert float(ours[k]) == pytest.approx(v, rel=1e-8, abs=1e-12)
    for a, b in ((fast.model, official.model), (fast.D, official.D)):
        for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            if x.is_floating_point():
                assert torch.allclose(x, y, rtol=1e-8, atol=1e-12), k
            else:
                assert torch.equal(x, y), k


def test_fast_critic_gradients_match_autograd():
    from models.consingan.network import Discriminator
    torch.manual_seed(0)
    D = Discriminator(nfc=8, lrelu_alpha=0.2).double()
    real, fake = torch.rand(2, 1, 3, 20, 22, dtype=torch.float64) * 2 - 1
    a = torch.tensor([[0.3]], dtype=torch.float64)
    grads = []
    for critic in (FastCritic(D, 0.1), AutogradCritic(D, 0.1)):
        losses = critic.d_step(real, fake, a)
        grads.append(([float(x) for x in losses], [p.grad.clone() for p in D.parameters()],
                      critic.g_grad(fake)))
    for other in grads[1:]:
        assert other[0] == pytest.approx(grads[0][0], rel=1e-10)
        for x, y in zip(other[1], grads[0][1]):
            assert torch.allclose(x, y, rtol=1e-8, atol=1e-14)
        assert torch.allclose(other[2][1], grads[0][2][1], rtol=1e-9, atol=1e-15)


def test_matrix_bicubic_is_torchs_bicubic():
    from training.consingan.resize import BicubicResize
    torch.manual_seed(0)
    x = torch.randn(1, 4, 13, 17, dtype=torch.float64)
    resize = BicubicResize()
    for size in ((19, 23), (13, 17), (40, 51), (1, 5)):
        ref = F.interpolate(x, size=list(size), mode="bicubic", align_corners=True)
        assert torch.allclose(resize(x, size), ref, rtol=0, atol=1e-12), size
    x32 = x.float()
    ref = F.interpolate(x32, size=[40, 51], mode="bicubic", align_corners=True)
    assert torch.allclose(resize(x32, (40, 51)), ref, rtol=0, atol=1e-4)


def test_fixed_g_steps_alternative_runs(image):
    a = ConSinGANTrainer(image, tiny(train_stages=2, niter=2), seed=0).run()
    b = ConSinGANTrainer(image, tiny(train_stages=2, niter=2, official_g_steps=False),
                         seed=0).run()
    assert not states_equal(a.generator, b.generator)


# ----- augmentation ---------------------------------------------------------------------------
def test_augmentations_are_deterministic_under_a_seed(image):
    img = image.astype(np.float32)

    def draws(fn, seed, n=40):
        gen = torch.Generator().manual_seed(seed)
        return [fn(img, gen) for _ in range(n)]
    for fn in (harmonization_augment, shuffle_grid):
        a, b, c = draws(fn, 1), draws(fn, 1), draws(fn, 2)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        assert not all(np.array_equal(x, y) for x, y in zip(a, c))
        assert all(x.shape == img.shape and x.min() >= 0 and x.max() <= 256 for x in a)
    changed = [not np.array_equal(x, img) for x in draws(harmonization_augment, 3, 200)]
    assert 0.8 < np.mean(changed) < 1.0  # cutout with p 0.9, colour groups with p 0.25


# ----- checkpoints, resume, cancel, progress --------------------------------------------------
@pytest.mark.parametrize("mode, stop_at", [("harmonization", (1, 2)), ("generation", (0, 4)),
                                            ("editing", (2, 1))])
def test_cancel_then_resume_is_bit_identical(image, tmp_path, mode, stop_at):
    s = tiny(mode, niter=4, train_depth=1, batch_norm=mode != "generation", checkpoint_every=3)
    whole = ConSinGANTrainer(image, s, seed=5)
    whole.run()
    first = ConSinGANTrainer(image, s, checkpoint_dir=tmp_path, seed=5)
    partial = first.run(should_stop=lambda: (first.stage, first.iteration) == stop_at)
    assert not first.finished and partial.num_stages == stop_at[0] + 1
    assert first.completed_iterations == stop_at[0] * 4 + stop_at[1]
    resumed = ConSinGANTrainer.resume(tmp_path)
    assert resumed.completed_iterations == first.completed_iterations
    resumed.run()
    assert resumed.finished
    assert states_equal(resumed.model, whole.model) and states_equal(resumed.D, whole.D)


def test_checkpoint_is_plain_and_loads_with_weights_only(image, tmp_path):
    trainer = ConSinGANTrainer(image, tiny(checkpoint_every=2), checkpoint_dir=tmp_path)
    trainer.run(should_stop=lambda: trainer.stage == 1 and trainer.iteration == 2)
    payload = torch.load(ckpt_state.path_in(tmp_path), weights_only=True)
    assert payload["stage"] == 1 and payload["iteration"] == 2 and payload["optim"] is not None
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / ckpt_state.FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="not a readable ConSinGAN checkpoint"):
        ConSinGANTrainer.resume(tmp_path / "junk")
    with pytest.raises(TrainingError, match="nothing to resume"):
        ConSinGANTrainer.resume(tmp_path / "empty")


def test_progress_reports(image):
    reports: list[TrainProgress] = []
    trainer = ConSinGANTrainer(image, tiny(niter=4, log_every=2, preview_every=2))
    trainer.run(progress=reports.append)
    assert [(p.stage, p.iteration) for p in reports] == [(d, i) for d in range(3)
                                                         for i in range(1, 5)]
    assert all(p.num_stages == 3 and p.iterations_per_stage == 4 and p.total_iterations == 12
               for p in reports)
    assert [p.completed_iterations for p in reports] == list(range(1, 13))
    assert reports[0].eta_seconds is None and reports[0].seconds_per_iteration is None
    assert reports[1].seconds_per_iteration > 0 and reports[1].eta_seconds > 0
    assert reports[-1].eta_seconds == pytest.approx(0.0)
    previews = [p.preview for p in reports if p.preview is not None]
    assert len(previews) == 6 and previews[-1].shape == (24, 32, 3)
    assert previews[-1].dtype == np.uint8
    assert isinstance(reports[-1].losses["reconstruction"], float)


def test_flat_samples_are_told_from_a_flat_image():
    from training.consingan.progress import is_flat

    rng = torch.Generator().manual_seed(0)
    real = torch.rand(1, 3, 16, 16, generator=rng) * 2 - 1
    assert is_flat(torch.full_like(real, -1.0), real)            # saturated tanh: black
    assert not is_flat(real.flip(-1), real)
    assert not is_flat(torch.full_like(real, 0.01), real)   # untrained: flat but it learns
    assert not is_flat(torch.full_like(real, -1.0), torch.full_like(real, 0.3))  # flat real


def test_a_collapsed_stage_stops_the_run_with_advice(image, tmp_path):
    from training.errors import GeneratorCollapsed

    trainer = ConSinGANTrainer(image, tiny(niter=6, batch_norm=False),
                               checkpoint_dir=tmp_path / "ckpt")
    reports = []

    def saturate(p):  # what a collapse looks like: the tail's tanh pinned at -1
        reports.append(p)
        if p.stage == 1 and p.iteration == 1:
            with torch.no_grad():
                trainer.model.generator.tail[0].bias.fill_(-1e4)

    with pytest.raises(GeneratorCollapsed, match="collapsed at stage 2 of 3.*batch norm"):
        trainer.run(progress=saturate)
    assert [p.warning == "" for p in reports if p.stage == 0] == [True] * 6
    assert "flat" in reports[-1].warning and reports[-1].stage == 1
    assert len(trainer.stage_G) == 1  # the collapsed stage was not kept


def test_running_out_of_memory_keeps_the_checkpoint_and_resume_matches(image, tmp_path,
                                                                          monkeypatch):
    from training.consingan.stage import StageRun
    from training.errors import TrainingOutOfMemory

    settings = tiny(niter=4, checkpoint_every=2)
    whole = ConSinGANTrainer(image, settings).run()
    real_iteration, calls = StageRun.iteration, [0]

    def runs_out(self, i):  # the 7th iteration (stage 2, iteration 3) finds the GPU full
        calls[0] += 1
        if calls[0] == 7:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_iteration(self, i)

    monkeypatch.setattr(StageRun, "iteration", runs_out)
    trainer = ConSinGANTrainer(image, settings, checkpoint_dir=tmp_path)
    with pytest.raises(TrainingOutOfMemory, match=r"CPU ran out of memory at stage 2 of 3 "
                       r"\(\d+x\d+ px\); the last checkpoint is kept"):
        trainer.run()
    monkeypatch.undo()
    resumed = ConSinGANTrainer.resume(tmp_path)
    assert (resumed.stage, resumed.iteration) == (1, 2)
    assert states_equal(resumed.run(), whole)


def test_stopped_run_goes_on_in_memory(image, tmp_path):
    trainer = ConSinGANTrainer(image, tiny(niter=2))
    calls = iter([False, True])
    trainer.run(should_stop=lambda: next(calls, False))
    assert trainer.completed_iterations == 1 and not trainer.finished
    trainer.run()
    assert trainer.finished
    at_once = ConSinGANTrainer(image, tiny(niter=2), checkpoint_dir=tmp_path)
    model = at_once.run(should_stop=lambda: True)  # an untrained stage 0, and a checkpoint
    assert model.num_stages == 1 and at_once.completed_iterations == 0
    assert ConSinGANTrainer.resume(tmp_path).run().num_stages == 3


# ----- outputs --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def harmonization_file(image, tmp_path_factory):
    trainer = ConSinGANTrainer(image, tiny("harmonization", niter=2, train_depth=1,
                                           batch_norm=True), seed=0)
    trainer.run()
    path = tmp_path_factory.mktemp("model") / "harm.safetensors"
    trainer.save_model(path, name="tiny harmonizer", license="CC0", source="tiny.png")
    return path, trainer


def test_model_file_loads_and_harmonizes(image, harmonization_file):
    path, trainer = harmonization_file
    bundle = load_model_file(path)
    assert bundle.license == "CC0" and bundle.provenance["name"] == "tiny harmonizer"
    assert bundle.provenance["source"] == "tiny.png" and bundle.provenance["finished"]
    assert len(bundle.provenance["background_sha256"]) == 64
    model = build_networks(bundle)["G"]
    assert states_equal(model, trainer.current_model())
    naive = image.copy()
    naive[5:12, 8:16] = (250, 10, 10)
    mask = np.zeros(image.shape[:2], bool)
    mask[5:12, 8:16] = True
    result = model.harmonize(naive, mask)
    assert result.composited.shape == (1, 3, 24, 32) and torch.isfinite(result.raw).all()


def test_finetune_trains_only_the_last_stage(image, harmonization_file):
    path, _ = harmonization_file
    base = build_networks(load_model_file(path))["G"]
    naive = image.copy()
    naive[4:10, 4:12] = 255
    trainer = ConSinGANTrainer.finetune(path, naive, iterations=3)
    assert trainer.extra["fresh_critic"] is False  # the file carries the last stage's critic
    reports = []
    tuned = trainer.run(progress=reports.append)
    assert trainer.finished and [(p.stage, p.num_stages) for p in reports][-1] == (0, 1)
    assert reports[-1].iteration == 3 == trainer.total_iterations
    n = base.num_stages
    for k, v in base.state_dict().items():
        w = tuned.state_dict()[k]
        trained = k.startswith((f"generator.body.{n - 1}.", "generator.tail."))
        if trained and not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert not torch.equal(v, w), k
        elif not trained and "norm.running" not in k and "num_batches" not in k:
            assert torch.equal(v, w), k
    fresh = ConSinGANTrainer.finetune(base, naive, iterations=1)
    assert fresh.extra["fresh_critic"] is True
    with pytest.raises(InputError, match="harmonization or editing"):
        ConSinGANTrainer.finetune(ConSinGANTrainer(image, tiny(niter=1)).run(), naive)


def test_official_export_round_trip(harmonization_file, tmp_path):
    _, trainer = harmonization_file
    folder = trainer.export_official(tmp_path / "official")
    assert (folder / "2" / "netD.pth").is_file() and (folder / "parameters.txt").is_file()
    back = load_folder(folder)
    assert states_equal(back, trainer.current_model())
    assert torch.equal(back.reconstruct(), trainer.current_model().reconstruct())
    # stage 0's netG.pth is the generator as it was after stage 0
    stage0 = torch.load(folder / "0" / "netG.pth", weights_only=True)
    assert torch.equal(stage0["body.0.block0.conv.weight"],
                       trainer.stage_G[0]["body.0.block0.conv.weight"])
    tuned = ConSinGANTrainer.finetune(folder, np.zeros((10, 10, 3), np.uint8), iterations=1)
    assert tuned.extra["fresh_critic"] is False


# ----- command line and bad input -------------------------------------------------------------
def test_cli_trains_fine_tunes_and_resumes(image, tmp_path, capsys):
    from training.cli import main
    src = tmp_path / "tiny.png"
    Image.fromarray(image).save(src)
    common = ["--min_size", "12", "--max_size", "32", "--nfc", "8", "--device", "cpu", "--quiet"]
    out = tmp_path / "m.safetensors"
    assert main(["consingan", "--input_name", str(src), "--train_mode", "harmonization",
                 "--preset", "fast", "--train_stages", "2", "--niter", "2", "--batch_norm",
                 "--out", str(out), "--checkpoint_dir", str(tmp_path / "ck"),
                 "--export_official", str(tmp_path / "off")] + common) == 0
    bundle = load_model_file(out)
    assert bundle.options["batch_norm"] is True and bundle.options["train_stages"] == 2
    assert (tmp_path / "off" / "1" / "netG.pth").is_file()
    assert main(["consingan", "--input_name", str(src), "--train_mode", "harmonization",
                 "--out", str(out), "--checkpoint_dir", str(tmp_path / "ck")] + common) == 2
    assert "--continue" in capsys.readouterr().err
    tuned = tmp_path / "t.safetensors"
    assert main(["consingan", "--finetune", str(out), "--naive", str(src), "--niter", "2",
                 "--out", str(tuned), "--device", "cpu", "--quiet"]) == 0
    assert load_model_file(tuned).provenance["iterations"] == 2


def test_bad_input_is_named(image, tmp_path, capsys):
    from training.cli import main
    with pytest.raises(InputError, match="no such file"):
        ConSinGANTrainer(tmp_path / "missing.png", tiny())
    with pytest.raises(InputError, match="shorter side must be at least min_size"):
        ConSinGANTrainer(image[:10, :10], tiny())
    with pytest.raises(InputError, match="unknown train_mode"):
        TrainSettings.preset("fast", mode="inpainting")
    with pytest.raises(InputError, match="uint8"):
        ConSinGANTrainer(image.astype(np.float32), tiny())
    assert main(["consingan", "--input_name", str(tmp_path / "missing.png"), "--train_mode",
                 "generation", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["consingan", "--input_name", "x.png", "--train_mode", "painting", "--out", "y"])
    assert exc.value.code == 2
