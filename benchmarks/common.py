"""Shared helpers for the benchmark scripts."""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def setup(parser):
    """Parse the arguments (adding --device), print the machine, and return
    (args, device, a seeded shallow CNN for CIFAR-shaped input in eval mode)."""
    from repsub.devices import pick_device
    from repsub.nets.names import build_model

    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(describe(device))
    torch.manual_seed(0)
    model = build_model("shallow_cnn", (3, 32, 32), 10, [0.5] * 3, [0.25] * 3).eval().to(device)
    return args, device, model


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(function, device, repeats=1):
    """Best wall time of ``repeats`` calls, in seconds (the first pays for warm-up)."""
    best = float("inf")
    for _ in range(repeats):
        synchronise(device)
        start = time.perf_counter()
        function()
        synchronise(device)
        best = min(best, time.perf_counter() - start)
    return best


def describe(device):
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    return f"torch {torch.__version__} on {name}"


def compare(rows, device, repeats):
    """Time each way per layer and print the ratios to the last way (the naive one).

    ``rows`` yields (layer, units, ways): ways maps a name to a callable, in the
    same order for every row, the naive way last."""
    totals, names = {}, None
    for layer, units, ways in rows:
        if names is None:
            names = list(ways)
            print(f"{'layer':<6} {'units':>5} " + " ".join(f"{name + ' s':>10}" for name in names)
                  + " " + " ".join(f"{name + ' gain':>12}" for name in names[:-1]))
        seconds = {name: timed(run, device, repeats) for name, run in ways.items()}
        for name, value in seconds.items():
            totals[name] = totals.get(name, 0.0) + value
        print(_row(layer, units, seconds, names))
    print(_row("total", "", totals, names))


def _row(layer, units, seconds, names):
    naive = seconds[names[-1]]
    return (f"{layer:<6} {units:>5} " + " ".join(f"{seconds[name]:>10.2f}" for name in names) + " "
            + " ".join(f"{naive / seconds[name]:>11.1f}x" for name in names[:-1]))


def case_arguments(parser, images):
    """The arguments of an ablation benchmark's case: images, batch size, layers, a checkpoint."""
    parser.add_argument("--images", type=int, default=images)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--layers", nargs="+", help="only these layers (default all)")
    parser.add_argument("--checkpoint", help="a trained checkpoint (default: a shallow CNN with random weights)")
    parser.add_argument("--manifest", help="the checkpoint's data manifest.json (with --checkpoint)")


def ablation_case(args, device, model):
    """(model, split, image shape, classes): the checkpoint's model and a stratified subset of its
    manifest's test split, or ``model`` on random CIFAR-shaped images and labels."""
    from repsub.data import TensorSplit

    if args.checkpoint:
        from repsub.checkpoint import load_model
        from repsub.data import load_split, stratified_subset
        from repsub.io import sha256_file
        from repsub.manifest import read_manifest

        model, _ = load_model(args.checkpoint, None, sha256_file(args.manifest))
        manifest = read_manifest(args.manifest)
        split = stratified_subset(load_split(args.manifest, "test"), args.images)
        return model.eval().to(device), split, tuple(manifest["image_shape"]), len(manifest["classes"])
    generator = torch.Generator().manual_seed(0)
    shape = (3, 32, 32)
    split = TensorSplit(torch.randint(0, 256, (args.images, *shape), dtype=torch.uint8, generator=generator),
                        torch.randint(0, 10, (args.images,), generator=generator))
    return model, split, shape, 10
