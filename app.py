"""The web demo: text to motion and 2D-to-3D lifting in the browser (gradio), served from this machine only.

    python app.py                                          # http://127.0.0.1:7860, the bundled checkpoints/
    python app.py --checkpoints-root /tmp/ck --port 8000   # /tmp/ck/animals and /tmp/ck/people
    python app.py --animals runs/bundle_a --people runs/bundle_p --out-root outputs/app

Text to motion: a prompt, a species (any name; "human" uses the people models), a gender, a length (empty: the
model's length estimator; frames "120" or seconds "6s"), a seed, the guidance scale, the precision (float32,
bfloat16, or int8 on a CPU) and 1-4 samples -> a video and joints .npy, features .npy and .bvh files per sample.
Lifting: a COCO-17 keypoints JSON as detectors write it, or a (T, J, 2|3) .npy -> a 3D video, the lifted joints .npy
and a .bvh.

Each request writes into its own folder under --out-root. Nothing is fetched from the internet: analytics, gradio's
update check and share links are off, and the theme uses the fonts gradio ships.
"""
from __future__ import annotations

import argparse
import html
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from gen_t2m import slug, write_motion
from lift import choose_lifter, lift_keypoints
from models import bundled
from models.checkpoint import CheckpointError
from models.lifter import Lifter
from models.mask_transformer.pipeline import GUIDANCE, PRECISIONS, RES_GUIDANCE, STEPS, TEMPERATURE, T2MPipeline
from models.text_encoder import TEXT_ENCODER_PATH_HELP
from utils.bvh import write_bvh
from utils.features import joints_to_features
from utils.io import atomic_save_npy
from utils.keypoints import read_keypoints
from utils.render import render_video
from utils.skeleton import coco17_to_h36m17
from utils.zoo.bodies import GENDERS, SPECIES

# gradio reads this when it would send telemetry or check PyPI for a newer version: never, from this app
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

MAX_SAMPLES = 4
SPECIES_CHOICES = [*SPECIES, bundled.HUMAN]
PRECISION_LABELS = {"fp32": "float32", "bf16": "bfloat16", "int8": "int8 (CPU)"}
PRECISION_CHOICES = [(PRECISION_LABELS[p], p) for p in PRECISIONS]
LAYOUTS = {"auto": "auto: COCO-17 for a JSON file, the lifter's own order for .npy",
           "coco17": "COCO-17 (converted to the lifter's h36m17)",
           "native": "the lifter's own order (h36m17 for people, animo30 for animals)"}


@dataclass
class Sample:
    """One generated motion as the page shows it."""
    video: Path
    files: list[Path]  # joints .npy, features .npy, .bvh
    seed: int
    seconds: float


@dataclass
class Lifted:
    video: Path
    files: list[Path]  # joints .npy, [features .npy,] .bvh
    frames: int
    skeleton: str


@dataclass
class ZooApp:
    """The models behind the page, each loaded once per checkpoint folder, and where requests write their files."""
    folders: dict[str, Path]  # "animals" / "people" -> checkpoint folder
    out_root: Path
    device: str | None = None
    keep: int = 200  # request folders kept under out_root; older ones are deleted, so a long-running server stays small
    text_encoder_path: str | None = None  # for models that read text with clip or mpnet (see TEXT_ENCODER_PATH_HELP)
    precision: str = "fp32"  # the page's initial choice (PRECISIONS)
    _pipelines: dict[Path, T2MPipeline] = field(default_factory=dict, repr=False)
    _lifters: dict[Path, Lifter] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def folder(self, species: str) -> Path:
        return self.folders[bundled.dataset_for_species(species)]

    def pipeline(self, species: str) -> T2MPipeline:
        folder = self.folder(species).resolve()
        with self._lock:  # two requests must not load the same models twice
            if folder not in self._pipelines:
                self._pipelines[folder] = T2MPipeline.from_folder(folder, device=self.device,
                                                                  text_encoder_path=self.text_encoder_path)
            return self._pipelines[folder]

    def lifter(self, num_joints: int) -> Lifter:
        """The lifter (of the animals or the people folder) that reads `num_joints` keypoints per frame."""
        paths = [p for p in (f.resolve() / bundled.FILES["lifter"] for f in self.folders.values()) if p.is_file()]
        if not paths:
            raise CheckpointError(f"no {bundled.FILES['lifter']} in {' or '.join(map(str, self.folders.values()))}")
        with self._lock:
            for path in paths:
                if path not in self._lifters:
                    self._lifters[path] = Lifter.load(path).eval()  # lifting runs on the CPU, as lift.py
        return choose_lifter([self._lifters[p] for p in paths], num_joints,
                             fix="give COCO-17 (17) keypoints for people or animo30 (30) for animals")

    def request_folder(self, kind: str) -> Path:
        """A new folder for one request's files; the oldest beyond the newest `keep` are deleted."""
        self.out_root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{kind}_{time.strftime('%Y%m%d_%H%M%S')}_", dir=self.out_root))
        with self._lock:
            done = sorted((p for p in self.out_root.iterdir() if p.is_dir() and p != folder),
                          key=lambda p: p.stat().st_mtime)
            for old in done[: max(0, len(done) - (self.keep - 1))]:
                shutil.rmtree(old, ignore_errors=True)
        return folder

    def generate(self, text: str, species: str, gender: str, length: str | None = None, seed: int = 0,
                 guidance: float = GUIDANCE, num_samples: int = 1, precision: str = "fp32") -> list[Sample]:
        """Sample k uses seed + k. Raises ValueError (or CheckpointError) with a message for the user."""
        text, species, gender = (text or "").strip(), (species or "").strip().lower(), (gender or "").strip()
        if not text:
            raise ValueError("the prompt is empty: describe the motion, e.g. \"a dog trots forward, then sits down\"")
        if not species:
            raise ValueError(f"no species: pick one ({', '.join(SPECIES_CHOICES)}) or type a name")
        if gender not in GENDERS:
            raise ValueError(f"unknown gender {gender!r}; use one of {', '.join(GENDERS)}")
        if seed is None or float(seed) != int(seed):
            raise ValueError(f"the seed must be a whole number, got {seed!r}")
        if num_samples is None or not 1 <= int(num_samples) <= MAX_SAMPLES:
            raise ValueError(f"the number of samples must be 1-{MAX_SAMPLES}, got {num_samples!r}")
        length = (length or "").strip() or None
        n, seed = int(num_samples), int(seed)
        pipe = self.pipeline(species)
        # the page sets guidance and precision; the rest as gen_t2m.py's defaults, all kept in prompt.json
        sampling = dict(guidance=float(guidance), res_guidance=RES_GUIDANCE, steps=STEPS, temperature=TEMPERATURE,
                        precision=precision)
        motions = pipe.generate([text] * n, [species] * n, [gender] * n, [length] * n,
                                seeds=[seed + k for k in range(n)], **sampling)
        out = self.request_folder("t2m")
        samples = []
        for k, m in enumerate(motions):
            folder = write_motion(m, out / f"{k}_{slug(text)}", pipe.spec, video=True,
                                  extra=sampling)
            # downloads land side by side in the browser's download folder: name them by species and seed
            stem = f"{slug(species, 20)}_seed{m.seed}"
            files = []
            for name in ("joints.npy", "features.npy", "motion.bvh"):
                files.append((folder / name).rename(folder / f"{stem}_{name}"))
            samples.append(Sample(folder / "motion.mp4", files, m.seed, len(m.features) / pipe.spec.fps))
        return samples

    def lift(self, path: str | Path, width: float | None = None, height: float | None = None,
             layout: str = "auto") -> Lifted:
        """Keypoints file -> 3D joints, video, .npy and .bvh. Raises ValueError with a message for the user."""
        if not path:
            raise ValueError("no keypoints file: upload a COCO-17 JSON or a (T, J, 2|3) .npy")
        if layout not in LAYOUTS:
            raise ValueError(f"unknown keypoint layout {layout!r}; use one of {', '.join(LAYOUTS)}")
        width, height = width or None, height or None  # an empty number field reads 0
        if (width is None) != (height is None):
            raise ValueError("give both the image width and height, or neither")
        path = Path(path)
        if path.suffix.lower() not in (".json", ".npy"):
            raise ValueError(f"{path.name}: expected a keypoints .json or .npy file")
        kp = read_keypoints(path)
        if layout == "coco17" or (layout == "auto" and path.suffix.lower() == ".json"):
            kp = coco17_to_h36m17(kp)  # detectors write COCO-17; the people lifter reads h36m17
        model = self.lifter(kp.shape[1])
        with torch.no_grad():
            joints = lift_keypoints(model, kp, (width, height) if width is not None else None).astype(np.float32)
        spec = model.output_spec
        out = self.request_folder("lift")
        stem = f"lifted_{slug(path.stem, 30)}"
        atomic_save_npy(out / f"{stem}_joints.npy", joints)
        files = [out / f"{stem}_joints.npy"]
        if spec.face_joints is not None and len(joints) >= 2:  # as lift.py: tokenizer-ready features for people
            feats, _ = joints_to_features(joints, spec)
            atomic_save_npy(out / f"{stem}_features.npy", feats)
            files.append(out / f"{stem}_features.npy")
        files.append(write_bvh(out / f"{stem}.bvh", joints, spec))
        video = render_video(joints, spec, out / f"{stem}.mp4", title=f"lifted: {path.name}")
        return Lifted(video, files, len(joints), spec.name)


# ---- the page ------------------------------------------------------------------------------------------------------
def user_error(e: Exception) -> gr.Error:
    """A message for the page, without a traceback in the server's log (the user caused it, not the code)."""
    return gr.Error(html.escape(str(e), quote=False), print_exception=False)


def on_generate(app: ZooApp, text, species, gender, length, seed, guidance, num_samples, precision) -> list:
    """-> [video, files] per sample slot, then the status line."""
    t0 = time.perf_counter()
    try:
        samples = app.generate(text, species, gender, length, seed, guidance, num_samples, precision)
    except ValueError as e:  # CheckpointError and KeypointError are ValueErrors too
        raise user_error(e) from None
    updates = []
    for k in range(MAX_SAMPLES):
        s = samples[k] if k < len(samples) else None
        label = f"sample {k + 1}, seed {s.seed}, {s.seconds:.1f} s" if s else f"sample {k + 1}"
        updates += [gr.update(value=str(s.video) if s else None, visible=s is not None),
                    gr.update(value=[str(f) for f in s.files] if s else None, label=label, visible=s is not None)]
    status = (f"{len(samples)} motion(s) of *{html.escape(text.strip())}* ({species.strip()} {gender}) "
              f"in {time.perf_counter() - t0:.1f} s ({precision})")
    unfamiliar = app.pipeline(species.strip().lower()).unfamiliar_words(text)
    if unfamiliar:
        status += (f"  \nThe model never saw *{html.escape(', '.join(unfamiliar))}* in training: the motion may not "
                   f"follow {'that word' if len(unfamiliar) == 1 else 'those words'}; familiar words work best.")
    return updates + [status]


def on_lift(app: ZooApp, file, width, height, layout) -> list:
    t0 = time.perf_counter()
    try:
        lifted = app.lift(file, width, height, layout)
    except ValueError as e:
        raise user_error(e) from None
    status = f"lifted {lifted.frames} frames to {lifted.skeleton} in {time.perf_counter() - t0:.1f} s"
    return [str(lifted.video), [str(f) for f in lifted.files], status]


def build_demo(app: ZooApp) -> gr.Blocks:
    with gr.Blocks(title="ZooMotion", analytics_enabled=False) as demo:
        gr.Markdown("# ZooMotion\nText to 3D skeleton motion for animals and people, and 2D keypoints lifted to 3D.")
        with gr.Tab("Text to motion", id="t2m"):
            with gr.Row():
                with gr.Column(scale=2, min_width=320):
                    text = gr.Textbox(label="Prompt", placeholder="a young dog trots forward, then sits down",
                                      lines=2, elem_id="t2m-text")
                    species = gr.Dropdown(SPECIES_CHOICES, value="dog", allow_custom_value=True, label="Species",
                                          info="any name; human uses the people models", elem_id="t2m-species")
                    gender = gr.Radio(list(GENDERS), value="male", label="Gender", elem_id="t2m-gender")
                    with gr.Row():
                        length = gr.Textbox(label="Length", placeholder="empty: estimated; 120 (frames) or 6s",
                                            min_width=120, elem_id="t2m-length")
                        seed = gr.Number(0, precision=0, label="Seed", min_width=80, elem_id="t2m-seed")
                    guidance = gr.Slider(0, 10, value=GUIDANCE, step=0.5, label="Guidance scale",
                                         info="classifier-free guidance; 1 = none", elem_id="t2m-guidance")
                    num_samples = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="Samples",
                                            info="sample k uses seed + k", elem_id="t2m-samples")
                    precision = gr.Radio(PRECISION_CHOICES, value=app.precision, label="Precision",
                                         info="bfloat16 and int8 are faster on CPUs with bfloat16 matmuls; "
                                              "int8 runs on a CPU only", elem_id="t2m-precision")
                    generate = gr.Button("Generate", variant="primary", elem_id="t2m-generate")
                    status = gr.Markdown(elem_id="t2m-status")
                with gr.Column(scale=3):
                    outputs = []
                    for row in range(MAX_SAMPLES // 2):
                        with gr.Row():
                            for k in (2 * row, 2 * row + 1):
                                with gr.Column(min_width=240):
                                    # the label goes on the files: over the video it would hide the video's caption
                                    outputs += [gr.Video(show_label=False, visible=k == 0, autoplay=True, loop=True,
                                                         elem_id=f"t2m-video-{k}"),
                                                gr.File(label=f"sample {k + 1}", file_count="multiple",
                                                        visible=k == 0, interactive=False, elem_id=f"t2m-files-{k}")]
            generate.click(lambda *a: on_generate(app, *a), [text, species, gender, length, seed, guidance,
                                                               num_samples, precision], outputs + [status])
        with gr.Tab("Lifting", id="lift"):
            with gr.Row():
                with gr.Column():
                    keypoints = gr.File(label="Keypoints (COCO-17 JSON or .npy)", file_types=[".json", ".npy"],
                                        type="filepath", elem_id="lift-file")
                    with gr.Row():
                        width = gr.Number(None, precision=0, label="Image width", info="optional; 0 = unknown",
                                          elem_id="lift-width")
                        height = gr.Number(None, precision=0, label="Image height", info="optional; 0 = unknown",
                                           elem_id="lift-height")
                    layout = gr.Dropdown([(v, k) for k, v in LAYOUTS.items()], value="auto", label="Keypoint order",
                                         elem_id="lift-layout")
                    lift = gr.Button("Lift to 3D", variant="primary", elem_id="lift-run")
                    lift_status = gr.Markdown(elem_id="lift-status")
                with gr.Column():
                    lift_video = gr.Video(label="3D", autoplay=True, loop=True, height=420, elem_id="lift-video")
                    lift_files = gr.File(label="files", file_count="multiple", interactive=False,
                                         elem_id="lift-files")
            lift.click(lambda *a: on_lift(app, *a), [keypoints, width, height, layout],
                       [lift_video, lift_files, lift_status])
    return demo


def launch(demo: gr.Blocks, app: ZooApp, host: str, port: int, block: bool = True):
    """Serve locally only: no share link, no server-side rendering (it would need node), gradio's bundled fonts."""
    return demo.queue().launch(server_name=host, server_port=port, share=False, ssr_mode=False, show_error=True,
                               allowed_paths=[str(app.out_root.resolve())], theme=gr.themes.Default(),
                               prevent_thread_lock=not block, quiet=not block, footer_links=["api", "settings"])


def folders_from(args) -> dict[str, Path]:
    root = Path(args.checkpoints_root) if args.checkpoints_root else bundled.root()
    folders = {d: Path(getattr(args, d) or root / d) for d in bundled.DATASETS}
    for d, folder in folders.items():
        if not folder.is_dir():
            raise SystemExit(f"error: the {d} checkpoint folder {folder} does not exist; give --{d} DIR or "
                             f"--checkpoints-root DIR (with animals/ and people/), or bundle the models (make bundle)")
    return folders


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints-root", help="folder with animals/ and people/ checkpoint folders "
                                              "(default: the bundled checkpoints/)")
    for d in bundled.DATASETS:
        p.add_argument(f"--{d}", help=f"the {d} checkpoint folder (overrides --checkpoints-root)")
    p.add_argument("--out-root", default=str(Path(tempfile.gettempdir()) / "zoomotion_app"),
                   help="each request writes into its own folder under this one")
    p.add_argument("--keep", type=int, default=200, help="request folders kept under --out-root (oldest deleted)")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 serves other machines too")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when present)")
    p.add_argument("--text-encoder-path", help=TEXT_ENCODER_PATH_HELP)
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="the page's initial precision (each request can choose; see gen_t2m.py --help)")
    args = p.parse_args(argv)
    if args.keep < 1:
        raise SystemExit(f"error: --keep must be at least 1, got {args.keep}")
    app = ZooApp(folders_from(args), Path(args.out_root), args.device, args.keep, args.text_encoder_path,
                 args.precision)
    launch(build_demo(app), app, args.host, args.port)


if __name__ == "__main__":
    main()
