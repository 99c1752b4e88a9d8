"""The training loop and trainers on tiny CPU runs: losses go down, resume is bit-exact, exported
files run in the app's pipelines, DDP keeps ranks identical, and the CLI works end to end."""
from __future__ import annotations

import copy
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset, default_collate

from models.modelfile import load_model_file
from models.pipelines import ImageToImage, LabelToImage
from training import semantic
from training.checkpoint import list_checkpoints
from training.errors import TrainingError
from training.cli import main as cli_main
from training.loop import RunOptions, run
from training.pix2pix import Pix2PixTrainer
from training.pix2pixhd import Pix2PixHDTrainer
from training.spade import SPADETrainer
from training.trainer import linear_decay

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
SIZE = 32


# ----------------------------------------------------------------------------- tiny data
def _label_sample(i: int) -> dict:
    lab = torch.zeros(SIZE, SIZE, dtype=torch.long)
    lab[SIZE // 2:] = 1
    lab[:, : 6 + 2 * (i % 4)] = 2
    colours = torch.tensor([[0.6, 0.2, -0.8], [-0.5, 0.4, -0.6], [0.1, -0.7, 0.3]])
    image = colours[lab].permute(2, 0, 1).contiguous()
    return {"label": lab, "image": image, "path": f"sample{i}"}


def _image_sample(i: int) -> dict:
    ramp = torch.linspace(-1, 1, SIZE).expand(SIZE, SIZE)
    a = torch.stack([ramp, ramp.t(), -ramp]) * (1 - 0.1 * (i % 3))
    return {"A": a, "B": torch.stack([a[1], -a[0], a[2]]), "path": f"sample{i}"}


class Tiny(Dataset):
    """``n`` documented-format samples; ``interrupt_at`` sends SIGINT when that sample index is
    read for the ``interrupt_at``-th time overall (a user pressing Ctrl+C mid-run)."""

    def __init__(self, make, n: int = 5, interrupt_at: int | None = None):
        self.make, self.n, self.interrupt_at, self.reads = make, n, interrupt_at, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        self.reads += 1
        if self.interrupt_at is not None and self.reads == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        return self.make(i)


class Repeated(Dataset):
    """One fixed sample, twice: every batch is the same."""

    def __init__(self, sample: dict):
        self.sample = sample

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> dict:
        return self.sample


def _opts(out: Path, steps: int, **kw) -> RunOptions:
    base = dict(out_dir=out, steps=steps, batch_size=2, save_every=0, sample_every=0,
                log_every=1, progress=False, device="cpu")
    return RunOptions(**{**base, **kw})


def _spade(**kw) -> SPADETrainer:
    return SPADETrainer({"label_nc": 3, "ngf": 4, "ndf": 4, "crop_size": SIZE, **kw})


def _pix2pix(**kw) -> Pix2PixTrainer:
    return Pix2PixTrainer({"netG": "unet_32", "ngf": 4, "ndf": 4, "crop_size": SIZE, **kw})


def _hd(**kw) -> Pix2PixHDTrainer:
    return Pix2PixHDTrainer({"label_nc": 3, "ngf": 4, "ndf": 4, "n_downsample_global": 2,
                             "n_blocks_global": 1, **kw})


def _weights(trainer) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v for n, m in trainer.modules.items() for k, v in m.state_dict().items()}


def _identical(a, b) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ----------------------------------------------------------------------------- learning
def _output_error(trainer, batch) -> float:
    """|G(input) - target| in train mode (batch statistics), the quantity the step lowers; on a
    copy, since a train-mode forward updates running statistics and spectral-norm vectors."""
    G = copy.deepcopy(trainer.modules["G"]).train()
    with torch.no_grad():
        if "A" in batch:
            out, target = G(batch["A"]), batch["B"]
        else:
            seg = semantic.generator_input(batch, semantic.label_channels(trainer.options), True)
            out, target = G(seg), batch["image"]
    return (out - target).abs().mean().item()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each family trained on one repeated batch; errors before/after and the model files."""
    cases = {"spade": (_spade, _label_sample(0), 14), "pix2pix": (_pix2pix, _image_sample(0), 60),
             "pix2pixhd": (_hd, _label_sample(0), 60)}
    out = {}
    for name, (make, sample, steps) in cases.items():
        torch.manual_seed(0)
        trainer = make()
        trainer.build()
        batch = default_collate([sample, sample])
        before = _output_error(trainer, batch)
        folder = tmp_path_factory.mktemp(name)
        result = run(trainer, Repeated(sample), _opts(folder, steps, sample_every=steps,
                                                     license="CC0-1.0"))
        out[name] = dict(trainer=trainer, before=before, after=_output_error(trainer, batch),
                         result=result, folder=folder, batch=batch)
    return out


@pytest.mark.parametrize("family", ["spade", "pix2pix", "pix2pixhd"])
def test_training_lowers_the_error_on_a_repeated_batch(trained, family):
    case = trained[family]
    assert case["after"] < 0.97 * case["before"], (case["before"], case["after"])
    records = [json.loads(line) for line in (case["folder"] / "log.jsonl").read_text().splitlines()]
    assert records and all(np.isfinite(v) for r in records for v in r["losses"].values())
    grid = Image.open(next((case["folder"] / "samples").glob("step_*.png")))
    assert grid.size == (3 * SIZE + 2 * 2, 2 * SIZE + 2)  # input | output | target, 2 rows


@pytest.mark.parametrize("family", ["spade", "pix2pixhd"])
def test_exported_label_model_runs_in_the_app_pipeline(trained, family):
    case = trained[family]
    bundle = load_model_file(case["result"].model_file)
    assert bundle.provenance["trained_with"] == "gauapp-train"
    assert bundle.provenance["steps"] == case["result"].step and bundle.license == "CC0-1.0"
    labels = case["batch"]["label"][0].numpy()
    exact = LabelToImage(bundle, device="cpu", fast=False)
    got = exact.generate_tensor(labels, size=(SIZE, SIZE))
    G = case["trainer"].export_module("G").eval()
    with torch.no_grad():
        want = G(semantic.generator_input({"label": torch.from_numpy(labels)[None]},
                                          exact.label_channels, True))
    assert torch.allclose(got, want, atol=1e-5)  # spectral norm folded as torch evaluates it
    image = LabelToImage(bundle, device="cpu")(labels, size=(SIZE, 2 * SIZE))
    assert image.shape == (SIZE, 2 * SIZE, 3) and image.dtype == np.uint8


def test_exported_pix2pix_runs_in_the_app_pipeline(trained):
    bundle = load_model_file(trained["pix2pix"]["result"].model_file)
    out = ImageToImage(bundle, device="cpu")(np.zeros((SIZE, SIZE, 3), np.uint8))
    assert out.shape == (SIZE, SIZE, 3)


# ----------------------------------------------------------------------------- resume
@pytest.mark.parametrize("make, sample", [
    (lambda: _spade(use_vae=True, z_dim=8, crop_size=256), _label_sample),  # z drawn per step
    (lambda: _hd(), _label_sample),
], ids=["spade-vae", "pix2pixhd-ema"])
def test_resume_is_bit_identical(tmp_path, make, sample):
    ema = dict(ema=0.9)
    straight = make()
    run(straight, Tiny(sample), _opts(tmp_path / "a", 5, **ema))
    run(make(), Tiny(sample), _opts(tmp_path / "b", 3, **ema))  # stops mid-epoch 1
    resumed = make()
    result = run(resumed, Tiny(sample), _opts(tmp_path / "b", 5, resume="auto", **ema))
    assert result.step == 5 and _identical(straight, resumed)
    assert all(torch.equal(straight.ema[k].state_dict()[p], resumed.ema[k].state_dict()[p])
               for k in straight.ema for p in straight.ema[k].state_dict())


def test_ctrl_c_saves_and_resume_is_bit_identical(tmp_path):
    """pix2pix has dropout: the RNG state must come back with the weights."""
    straight = _pix2pix()
    run(straight, Tiny(_image_sample), _opts(tmp_path / "a", 7))
    stopped = run(_pix2pix(), Tiny(_image_sample, interrupt_at=5), _opts(tmp_path / "b", 7))
    assert stopped.interrupted and stopped.step == 3
    assert stopped.checkpoint == list_checkpoints(tmp_path / "b")[-1][1]
    saved = torch.load(stopped.checkpoint, weights_only=True)  # plain data only
    assert saved["step"] == 3 and saved["epoch"] == 1 and saved["position"] == 1
    resumed = _pix2pix()
    run(resumed, Tiny(_image_sample), _opts(tmp_path / "b", 7, resume=stopped.checkpoint))
    assert _identical(straight, resumed)


def test_official_learning_rate_schedules():
    spade = linear_decay(2, 4)  # SPADE / pix2pixHD: lr - lr/niter_decay after each epoch > niter
    assert [spade(e) for e in range(6)] == [1, 1, 1, 0.75, 0.5, 0.25]
    p2p = linear_decay(2, 3, offset=1, denominator_extra=1)  # pix2pix lambda_rule
    assert [p2p(e) for e in range(5)] == [1, 1, 0.75, 0.5, 0.25]
    t = _spade(niter=1, niter_decay=2)
    t.build()
    assert t.optimizers["G"].param_groups[0]["lr"] == pytest.approx(0.0001)  # TTUR
    assert t.optimizers["D"].param_groups[0]["lr"] == pytest.approx(0.0004)
    assert t.optimizers["D"].param_groups[0]["betas"] == (0.0, 0.9)


def test_local_enhancer_from_global_trains_the_local_part_first(tmp_path, trained):
    global_file = trained["pix2pixhd"]["result"].model_file
    trainer = _hd(netG="local", ngf=2, n_blocks_local=1, load_global=str(global_file),
                  niter_fix_global=1)
    trainer.build()
    glob = load_model_file(global_file).state
    start = {k: v.clone() for k, v in trainer.modules["G"].state_dict().items()}
    assert torch.equal(start["model.1.weight"], glob["G.model.1.weight"])
    run(trainer, Tiny(_label_sample, n=4), _opts(tmp_path, 2))  # epoch 0: global part fixed
    mid = trainer.modules["G"].state_dict()
    assert torch.equal(mid["model.1.weight"], start["model.1.weight"])
    assert not torch.equal(mid["model1_1.1.weight"], start["model1_1.1.weight"])
    run(trainer, Tiny(_label_sample, n=4), _opts(tmp_path, 3, resume="auto"))
    assert not trainer.global_fixed
    assert not torch.equal(trainer.modules["G"].state_dict()["model.1.weight"],
                           start["model.1.weight"])


# ----------------------------------------------------------------------------- DDP
def _ddp_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        for name, make, sample in (("pix2pix", _pix2pix, _image_sample),
                                   ("spade", _spade, _label_sample)):
            folder = Path(out) / (name if rank == 0 else f"{name}-rank{rank}")
            trainer = make()
            run(trainer, Tiny(sample, n=8), _opts(folder, 4, save_every=2, sample_every=2))
            torch.save(_weights(trainer), Path(out) / f"{name}-weights{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_end_identical_and_only_rank0_writes(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for name in ("pix2pix", "spade"):
        w0, w1 = (torch.load(tmp_path / f"{name}-weights{r}.pt") for r in (0, 1))
        assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0), name
        assert not (tmp_path / f"{name}-rank1").exists()
        assert (tmp_path / name / "model.safetensors").is_file()
        saved = torch.load(list_checkpoints(tmp_path / name)[-1][1], weights_only=True)
        assert len(saved["rng_per_rank"]) == 2


# ----------------------------------------------------------------------------- datasets, CLI
def _write_paired(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(3):
        lab = np.full((SIZE, SIZE), 156, np.uint8)  # sky-other in COCO-Stuff PNG values
        lab[SIZE // 2:] = 123  # grass
        lab[:, :4 + i] = 255   # unlabeled
        img = np.zeros((SIZE, SIZE, 3), np.uint8)
        img[: SIZE // 2], img[SIZE // 2:] = (90, 140, 230), (40, 160, 40)
        Image.fromarray(lab).save(root / "labels" / f"{i}.png")
        Image.fromarray(img).save(root / "images" / f"{i}.png")


def test_spade_on_a_paired_dataset_folder(tmp_path):
    from training.data import build_dataset

    _write_paired(tmp_path / "data")
    dataset = build_dataset("paired", tmp_path / "data", labelset="landscape", load_size=SIZE,
                            crop_size=SIZE)
    trainer = SPADETrainer(dict(labelset="landscape", ngf=4, ndf=4, crop_size=SIZE))
    assert trainer.options["label_nc"] == 182 and trainer.options["contain_dontcare_label"]
    result = run(trainer, dataset, _opts(tmp_path / "run", 2,
                                         dataset_path=str(tmp_path / "data")))
    bundle = load_model_file(result.model_file)
    assert bundle.labelset.name == "landscape"
    assert bundle.provenance["dataset"] == str(tmp_path / "data")
    pipe = LabelToImage(bundle, device="cpu")
    out = pipe(pipe.load_label_png(tmp_path / "data" / "labels" / "0.png"))
    assert out.shape == (SIZE, SIZE, 3)  # the native size is the training crop


def _write_aligned(root: Path) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        a = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / f"{i}.png")


def test_cli_pix2pix_from_a_config_file(tmp_path, capsys):
    _write_aligned(tmp_path / "aligned" / "train")
    config = tmp_path / "x.toml"
    config.write_text(f'dataroot = "{tmp_path / "aligned"}"\nnetG = "unet_32"\nngf = 4\n'
                      f'ndf = 4\ncrop_size = {SIZE}\nload_size = {SIZE}\nbatchSize = 2\n'
                      f'steps = 5\ncheckpoints_dir = "{tmp_path / "ck"}"\nname = "p2p"\n'
                      'display_freq = 2\nlicense = "CC-BY-4.0"\n')
    assert cli_main(["pix2pix", "--config", str(config), "--steps", "3"]) == 0  # flag wins
    bundle = load_model_file(tmp_path / "ck" / "p2p" / "model.safetensors")
    assert bundle.architecture == "pix2pix" and bundle.provenance["steps"] == 3
    assert bundle.options["ngf"] == 4 and bundle.license == "CC-BY-4.0"
    assert cli_main(["sample", str(tmp_path / "ck" / "p2p" / "model.safetensors"),
                     str(tmp_path / "aligned" / "train"), "-o", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 4
    capsys.readouterr()
    assert cli_main(["eval", str(tmp_path / "ck" / "p2p" / "model.safetensors"),
                     "--dataroot", str(tmp_path / "aligned"), "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 4 and report["swd"]["mean"] > 0


@pytest.mark.parametrize("text, fragment", [
    ("ngf = 'wide'\n", "'ngf' must be an integer"),
    ("no_such_option = 1\n", "unknown option 'no_such_option'"),
    ("ngf = [\n", "not a valid TOML file"),
])
def test_cli_bad_config_is_a_one_line_error_with_code_2(tmp_path, capsys, text, fragment):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert cli_main(["pix2pix", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gauapp-train pix2pix: error:") and fragment in err
    assert "\n" not in err


def test_cli_out_of_memory_is_a_one_line_error_with_code_2(tmp_path, capsys, monkeypatch):
    import training.cli_train as cli_train

    def full(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore")

    monkeypatch.setattr(cli_train, "run_command", full)
    assert cli_main(["spade", "--dataroot", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gauapp-train spade: error: out of memory (CUDA out of memory. Tried "
                          "to allocate 2.00 GiB)") and "--continue_train" in err
    assert "\n" not in err


def test_cli_errors_exit_2(tmp_path, capsys):
    assert cli_main(["pix2pix", "--dataroot", str(tmp_path / "missing")]) == 2
    assert "gauapp-train pix2pix: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli_main(["spade", "--ngf", "many"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().startswith("gauapp-train spade: error: argument --ngf")


def test_ema_warms_up_so_short_runs_do_not_export_the_initial_weights():
    t = _spade()
    t.build()
    from training.trainer import Runtime
    t.attach(Runtime(), ema_decay=0.999)
    start = copy.deepcopy(t.modules["G"].state_dict())
    with torch.no_grad():
        for p in t.modules["G"].parameters():
            p.add_(1.0)
    t.update_ema(0.999, step=0)  # decay min(0.999, 1/10): 90 % of the way to the live weights
    name = next(n for n, _ in t.modules["G"].named_parameters())
    shadow = dict(t.ema["G"].named_parameters())[name]
    assert torch.allclose(shadow, start[name] + 0.9)
    t.update_ema(0.999, step=10_000)  # late in a run: the configured decay
    assert torch.allclose(shadow, start[name] + 0.9 + 0.1 * 0.001)


def test_spade_l1_loss_is_ours_and_off_by_default(tmp_path):
    plain, with_l1 = _spade(), _spade(lambda_l1=10.0)
    for t in (plain, with_l1):
        t.build()
        from training.trainer import Runtime
        t.attach(Runtime())
    batch = default_collate([_label_sample(i) for i in range(2)])
    assert "G_L1" not in plain.train_step(batch)
    losses = with_l1.train_step(batch)
    assert losses["G_L1"] > 0


def test_travel_checkpoint_is_small_and_resumes(tmp_path):
    """A travel checkpoint keeps fp16 weights of what training changed and no optimizer moments;
    the run resumes from it and continues close to an uninterrupted run."""
    make = lambda: _spade(label_nc=40)  # noqa: E731 - a one-hot map with few of its 41 channels
    straight = make()
    run(straight, Tiny(_label_sample), _opts(tmp_path / "a", 6, ema=0.9))
    full = run(make(), Tiny(_label_sample), _opts(tmp_path / "full", 3, ema=0.9))
    small = run(make(), Tiny(_label_sample), _opts(tmp_path / "b", 3, ema=0.9, travel=True))
    saved = torch.load(small.checkpoint, weights_only=True)
    assert saved["travel"] and "optimizers" not in saved
    assert small.checkpoint.stat().st_size < full.checkpoint.stat().st_size / 3
    packed = saved["modules"]["G"]["up_3.norm_0.mlp_shared.0.weight"]  # at full resolution
    assert packed["columns"].tolist() == [0, 1, 2, 40]  # the classes used + the edge channel

    resumed = make()  # a run without --travel resumes from it too
    result = run(resumed, Tiny(_label_sample), _opts(tmp_path / "b", 6, ema=0.9, resume="auto"))
    assert result.step == 6 and "optimizers" in torch.load(result.checkpoint, weights_only=True)
    for name in ("G", "D"):  # weights (power-iteration vectors of a tiny net wander more)
        a = dict(straight.modules[name].named_parameters())
        b = dict(resumed.modules[name].named_parameters())
        for key in a:
            assert torch.allclose(a[key], b[key], atol=0.05), key
    mlp = "up_3.norm_0.mlp_shared.0.weight"  # unused channels: exactly the seeded init
    assert torch.equal(straight.modules["G"].state_dict()[mlp][:, 3:40],
                       resumed.modules["G"].state_dict()[mlp][:, 3:40])

    with pytest.raises(TrainingError, match="other initial weights"):
        run(make(), Tiny(_label_sample), _opts(tmp_path / "c", 7, travel=True, seed=1,
                                                resume=small.checkpoint))


def _curriculum_config(tmp_path: Path, parts: str) -> Path:
    _write_paired(tmp_path / "data")
    config = tmp_path / "c.toml"
    config.write_text(f'dataroot = "{tmp_path / "data"}"\nlabelset = "landscape"\n'
                      f'no_instance = true\nngf = 4\nndf = 4\nnum_D = 1\ncrop_size = {SIZE}\n'
                      f'load_size = {SIZE}\nbatchSize = 2\nsteps = 2\ndisplay_freq = 0\n'
                      f'keep_checkpoints = 0\ncheckpoints_dir = "{tmp_path / "ck"}"\n'
                      f'name = "cur"\n' + parts)
    return config


def test_cli_curriculum_continues_the_run_with_larger_crops(tmp_path, capsys):
    config = _curriculum_config(tmp_path, "[[curriculum]]\nsteps = 4\ncrop_size = 64\n"
                                          "load_size = 64\nbatchSize = 1\n")
    assert cli_main(["spade", "--config", str(config)]) == 0
    run_dir = tmp_path / "ck" / "cur"
    assert [s for s, _ in list_checkpoints(run_dir)] == [2, 4]
    bundle = load_model_file(run_dir / "model.safetensors")
    assert bundle.provenance["steps"] == 4 and bundle.options["crop_size"] == 64
    curriculum = bundle.state

    # the same as training the first part, then resuming by hand with the part's options
    plain = _curriculum_config(tmp_path / "by_hand", "")
    assert cli_main(["spade", "--config", str(plain)]) == 0
    assert cli_main(["spade", "--config", str(plain), "--continue_train", "--steps", "4",
                     "--crop_size", "64", "--load_size", "64", "--batchSize", "1"]) == 0
    by_hand = load_model_file(tmp_path / "by_hand" / "ck" / "cur" / "model.safetensors")
    for key, value in by_hand.state.items():
        assert torch.equal(value, curriculum[key]), key

    # a finished curriculum continued: nothing left to train, same model
    assert cli_main(["spade", "--config", str(config), "--continue_train"]) == 0
    assert [s for s, _ in list_checkpoints(run_dir)] == [2, 4]
    assert "done at step 4" in capsys.readouterr().out


@pytest.mark.parametrize("parts, args, fragment", [
    ("[[curriculum]]\nsteps = 4\nngf = 8\n", [], "curriculum part 1 sets ngf"),
    ("[[curriculum]]\nsteps = 2\n", [], "beyond the step the part before ends at (2)"),
    ("[[curriculum]]\nsteps = 4\ncrop_size = 64\n", ["--crop_size", "64"],
     "--crop_size is set by the config's curriculum"),
    ("curriculum = 3\n", [], "'curriculum' must be a list of tables"),
])
def test_cli_curriculum_errors(tmp_path, capsys, parts, args, fragment):
    config = _curriculum_config(tmp_path, parts)
    assert cli_main(["spade", "--config", str(config), *args]) == 2
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize("command, name", [("spade", "landscape"), ("pix2pix", "colorization")])
def test_shipped_recipes_read(command, name):
    from training.cli_train import read_config, read_curriculum

    path = Path(__file__).resolve().parents[1] / "resources" / "recipes" / f"{name}.toml"
    options = read_config(command, path)
    assert options["dataroot"] and options["license"]
    for part in read_curriculum(command, path):
        assert part["steps"] > options["steps"]


def test_the_exported_ema_generator_has_batch_norm_statistics_of_its_own(tmp_path):
    """update_ema copies the live network's running statistics, which belong to other weights;
    the run re-estimates them for the EMA copy before exporting it."""
    trainer = _spade()
    result = run(trainer, Tiny(_label_sample), _opts(tmp_path / "a", 4, ema=0.5))
    shadow, live = trainer.ema["G"], trainer.modules["G"]
    norms = [(n, m) for n, m in shadow.named_modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and not shadow.training
    name, norm = norms[0]
    assert not torch.equal(norm.running_mean, dict(live.named_modules())[name].running_mean)
    # What a cumulative average over the training samples gives, recomputed here.
    want = copy.deepcopy(shadow)
    want_norms = [m for m in want.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in want_norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    samples = [_label_sample(i) for i in range(5)]
    trainer.ema["G"], kept = want, shadow
    for part in (samples[:2], samples[2:]):  # the run's batch size 2; the 5th joins the last
        trainer.run_export_generator(default_collate(part))
    trainer.ema["G"] = kept
    assert torch.allclose(norm.running_mean, want_norms[0].running_mean, atol=1e-5)
    assert torch.allclose(norm.running_var, want_norms[0].running_var, atol=1e-4)
    # ... and those are what the model file holds.
    bundle = load_model_file(result.model_file)
    key = next(k for k in bundle.state if k.endswith(f"{name}.running_mean"))
    assert torch.allclose(bundle.state[key].float(), norm.running_mean, atol=1e-3)
