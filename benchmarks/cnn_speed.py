"""CNN training speed: layerkit's im2col convolutions against PyTorch CPU, and where the time goes.

    python benchmarks/cnn_speed.py                  # 1 and 2 threads, 3 epochs x 2 reps (~15 min)
    python benchmarks/cnn_speed.py --quick          # smoke run on 6,000 samples (~1 min)
    python benchmarks/cnn_speed.py --threads 1 --epochs 4 --reps 3 --impls layerkit,torch

The network, batch size, optimizer and data are those of ``model_specs/cnn_fashion.yaml``
(``--spec`` picks another spec); only the number of epochs is overridden. Three kinds of child
process, each run fresh (peak RSS is its own ``ru_maxrss``), repetitions interleaved with the
order rotated so that a slow phase of the shared machine hits every implementation alike:

* ``layerkit``: ``load_spec`` + ``layerkit.training.train``, exactly as ``layerkit train`` runs
  it; s/epoch from the run's ``metrics.csv`` (optimisation steps only, like the others).
* ``torch``: the same layers as ``torch.nn`` modules (translated from the built layerkit
  network, so shapes, paddings and pooling semantics match), the same optimizer and
  hyperparameters, float32, ``torch.set_num_threads`` = the BLAS threads; PyTorch's CPU
  convolutions run on oneDNN.
* ``profile``: layerkit's network from the spec, stepped by hand over real batches to time
  every layer's forward and backward, the optimizer, the im2col and col2im copies inside the
  conv layers, and every GEMM of a step at its real shape and memory layout - so the report can
  say what bounds layerkit (GEMM share, copy share) and how much scratch memory the conv layers
  hold (one batch's columns, never the whole training set's).

Writes a Markdown table to stdout and ``results/cnn_speed.md``, every raw figure to
``results/cnn_speed.json``. Compare figures only within one run (see README.md, Caveats).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    N_TRAIN,
    add_process_arguments,
    check_process_arguments,
    describe_blas,
    finish_child,
    load_fashion_mnist,
    machine_metadata,
    package_versions,
    rotated,
    run_in_child,
    steady_epochs,
    summarize,
    write_report,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEFAULT_SPEC = HERE.parent / "model_specs" / "cnn_fashion.yaml"
IMPLS = ("layerkit", "torch", "profile")
LABELS = {
    "layerkit": "layerkit",
    "torch": "PyTorch eager (oneDNN)",
    "profile": "layerkit, profiled",
}
#: the speed issue's goals: layerkit samples/s over PyTorch's, per BLAS thread count
SPEEDUP_TARGETS = {1: 1.25, 2: 1.0}


# ----------------------------------------------------------------------------- the spec


def load(spec_path: Path, epochs: int, train_size: int | None, *, augment: bool = False) -> Any:
    """The spec with ``epochs``; without its augmentations unless ``augment`` (the speed runs
    compare the same network and batches as PyTorch, which does not augment; the profile
    measures what the augmentations cost separately)."""
    from layerkit.spec import load_spec

    overrides = [f"train.epochs={epochs}", "train.early_stopping=null"]
    if not augment:
        overrides.append("data.augment=[]")
    if train_size is not None:
        overrides.append(f"data.train_size={train_size}")
    return load_spec(spec_path, overrides=overrides)


def _n_train(train_size: int | None) -> int:
    return train_size or N_TRAIN


# ----------------------------------------------------------------------------- layerkit


def run_layerkit(args: argparse.Namespace) -> dict[str, Any]:
    import csv

    import layerkit
    from layerkit.run import train

    spec = load(args.spec, args.epochs, args.train_size)
    with tempfile.TemporaryDirectory(prefix="lk-cnn-") as tmp:
        t0 = time.perf_counter()
        result = train(spec, out=Path(tmp) / "run")
        wall = time.perf_counter() - t0
        with open(Path(result.run_dir) / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    n = _n_train(args.train_size)
    return {
        "epoch_seconds": [n / float(row["samples_per_s"]) for row in rows],
        "test_accuracy": float(rows[-1]["test_accuracy"]),
        "extra": {
            "layerkit_version": layerkit.__version__,
            "epoch_seconds_with_eval": [float(row["seconds"]) for row in rows],
            "train_call_seconds": wall,
        },
    }


# ----------------------------------------------------------------------------- PyTorch


def torch_model(network: Any) -> Any:
    """The built layerkit ``network`` as a ``torch.nn.Module`` (same geometry, same semantics):
    ``nn.Sequential`` for a chain, :class:`_TorchGraph` for a graph (residual blocks)."""
    from torch import nn

    if network.is_chain:
        return nn.Sequential(*[m for layer in network.layers[:-1] for m in _torch_layer(layer)])
    return _torch_graph(network)


def _torch_graph(network: Any) -> Any:
    from torch import nn

    class _TorchGraph(nn.Module):
        """Runs the layers in layerkit's order, each on the outputs of the layers it takes."""

        def __init__(self) -> None:
            super().__init__()
            body = network.layers[:-1]
            ids = ["input", *(str(layer.id) for layer in body)]
            self.kinds = [layer.name for layer in body]
            self.slots = [
                [ids.index(i) for i in network.inputs_of(str(layer.id))] for layer in body
            ]
            self.scores = ids.index(network.inputs_of(str(network.layers[-1].id))[0])
            self.mods = nn.ModuleList(
                nn.Identity()
                if layer.name in ("Add", "Mul")
                else nn.Sequential(*_torch_layer(layer))
                for layer in body
            )

        def forward(self, x: Any) -> Any:
            values = [x]
            for kind, slots, mod in zip(self.kinds, self.slots, self.mods):
                ins = [values[s] for s in slots]
                if kind == "Add":
                    y = ins[0]
                    for other in ins[1:]:
                        y = y + other
                elif kind == "Mul":
                    y = ins[0]
                    for other in ins[1:]:  # layerkit aligns shorter shapes at the channel axis
                        y = y * other.reshape(*other.shape, *[1] * (y.dim() - other.dim()))
                else:
                    y = mod(ins[0])
                values.append(y)
            return values[self.scores]

    return _TorchGraph()


def _torch_layer(layer: Any) -> list[Any]:
    """The torch modules computing one layerkit layer."""
    from torch import nn

    modules: list[nn.Module] = []
    kind, hp, shape = layer.name, layer.hp, layer.input_shape
    if kind == "Conv2D":
        w = layer.window
        if w.top != w.bottom or w.left != w.right:
            modules.append(nn.ZeroPad2d((w.left, w.right, w.top, w.bottom)))
            pad: Any = 0
        else:
            pad = (w.top, w.left)
        modules.append(
            nn.Conv2d(shape[0], hp.filters, (w.kh, w.kw), (w.sh, w.sw), pad, bias=hp.use_bias)
        )
    elif kind in ("MaxPool2D", "AvgPool2D"):
        w = layer.window
        if w.top != w.bottom or w.left != w.right:
            raise NotImplementedError(f"{layer.label}: asymmetric pooling padding")
        if kind == "MaxPool2D":
            modules.append(nn.MaxPool2d((w.kh, w.kw), (w.sh, w.sw), (w.top, w.left)))
        else:  # layerkit averages over the real pixels only
            modules.append(
                nn.AvgPool2d((w.kh, w.kw), (w.sh, w.sw), (w.top, w.left), count_include_pad=False)
            )
    elif kind == "GlobalAvgPool2D":
        modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    elif kind == "Flatten":
        modules.append(nn.Flatten())
    elif kind == "Affine":
        if len(shape) > 1:
            modules.append(nn.Flatten())
        modules.append(nn.Linear(int(np.prod(shape)), hp.units))
    elif kind == "Relu":
        modules.append(nn.ReLU())
    elif kind == "Dropout":
        modules.append(nn.Dropout(hp.rate))
    elif kind == "BatchNorm":
        norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
        modules.append(norm(shape[0], eps=hp.eps, momentum=1.0 - hp.momentum))
    else:
        raise NotImplementedError(f"{layer.label}: no PyTorch translation for {kind}")
    return modules


def torch_optimizer(config: dict[str, Any], params: Any) -> Any:
    import torch

    kind = config["type"]
    hp = {k: v for k, v in config.items() if k != "type"}
    wd = hp.pop("weight_decay", 0.0)
    if kind == "Adam":
        return torch.optim.Adam(
            params,
            lr=hp.get("lr", 1e-3),
            betas=(hp.get("beta1", 0.9), hp.get("beta2", 0.999)),
            eps=hp.get("eps", 1e-7),
            weight_decay=wd,
        )
    if kind in ("SGD", "Momentum"):
        return torch.optim.SGD(
            params, lr=hp.get("lr", 0.01), momentum=hp.get("momentum", 0.0), weight_decay=wd
        )
    raise NotImplementedError(f"no PyTorch translation for optimizer {kind}")


def run_torch(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch import nn

    from layerkit.spec import build_network

    torch.set_num_threads(args.threads)
    spec = load(args.spec, args.epochs, args.train_size)
    torch.manual_seed(spec.seed or 0)
    model = torch_model(build_network(spec))
    optimizer = torch_optimizer(dict(spec.train.optimizer), model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    data = load_fashion_mnist()
    n = _n_train(args.train_size)
    x_train = (
        torch.from_numpy(data.x_train[:n]).to(torch.float32).div_(255.0).reshape(-1, 1, 28, 28)
    )
    y_train = torch.from_numpy(data.y_train[:n]).to(torch.int64)
    x_test = torch.from_numpy(data.x_test).to(torch.float32).div_(255.0).reshape(-1, 1, 28, 28)
    y_test = torch.from_numpy(data.y_test).to(torch.int64)
    batch = spec.train.batch_size
    generator = torch.Generator().manual_seed(spec.seed or 0)

    epoch_seconds = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
        epoch_seconds.append(time.perf_counter() - t0)
    model.eval()
    with torch.inference_mode():
        correct = sum(
            int((model(x_test[s : s + 1000]).argmax(dim=1) == y_test[s : s + 1000]).sum())
            for s in range(0, len(y_test), 1000)
        )
    return {
        "epoch_seconds": epoch_seconds,
        "test_accuracy": correct / len(y_test),
        "extra": {
            "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
        },
    }


# ----------------------------------------------------------------------------- profile


class _Clock:
    """Accumulated seconds per name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

        return timed

    def add(self, name: str, dt: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + dt


Gemm = tuple[str, Callable[[], Any], float]


def _gemm(name: str, a: np.ndarray, b: np.ndarray) -> Gemm:
    """``(name, call, flops)`` of ``a @ b`` into a buffer of its own (operands may be ``.T`` views)."""
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    return name, lambda: np.matmul(a, b, out=out), 2.0 * a.shape[0] * a.shape[1] * b.shape[1]


def _weight_grad_gemm(layer: Any, col: np.ndarray, d: np.ndarray) -> Gemm:
    """dW as Conv2D computes it: ``col @ d.T`` in slices of ``dw_slice`` positions."""
    out = np.empty((col.shape[0], d.shape[0]), col.dtype)
    part = np.empty_like(out)
    step = layer.dw_slice

    def call() -> None:
        np.matmul(col[:, :step], d[:, :step].T, out=out)
        for lo in range(step, col.shape[1], step):
            np.matmul(col[:, lo : lo + step], d[:, lo : lo + step].T, out=part)
            np.add(out, part, out=out)

    return f"{layer.id} col@d.T", call, 2.0 * col.shape[0] * col.shape[1] * d.shape[0]


def step_gemms(network: Any, n: int, rng: np.random.Generator) -> list[Gemm]:
    """Every GEMM of one training step at batch ``n``: ``(name, call, flops)`` with the layouts
    layerkit uses (columns ``(C*kh*kw, N*OH*OW)`` C-ordered, transposed operands as views)."""
    ops: list[Gemm] = []
    f32 = np.float32
    for layer in network.layers[:-1]:
        if layer.name == "Conv2D":
            w = layer.window
            f, ckk, cols = (
                layer.hp.filters,
                int(np.prod(layer.params["W"].shape[1:])),
                n * w.oh * w.ow,
            )
            w2 = rng.standard_normal((f, ckk), dtype=f32)
            col = rng.random((ckk, cols), dtype=f32)
            d = rng.standard_normal((f, cols), dtype=f32)
            ops += [_gemm(f"{layer.id} W@col", w2, col), _weight_grad_gemm(layer, col, d)]
            if layer.needs_input_grad:
                ops.append(_gemm(f"{layer.id} W.T@d", w2.T, d))
        elif layer.name == "Affine":
            fan_in, units = layer.params["W"].shape
            x = rng.random((n, fan_in), dtype=f32)
            wt = rng.standard_normal((fan_in, units), dtype=f32)
            d = rng.standard_normal((n, units), dtype=f32)
            ops += [_gemm(f"{layer.id} x@W", x, wt), _gemm(f"{layer.id} x.T@d", x.T, d)]
            if layer.needs_input_grad:
                ops.append(_gemm(f"{layer.id} d@W.T", d, wt.T))
    return ops


def run_profile(args: argparse.Namespace) -> dict[str, Any]:
    from layerkit.data.augment import Augmenter
    from layerkit.data.batches import BatchIterator
    from layerkit.plugins import get_registry
    from layerkit.spec import build_network

    spec = load(args.spec, 1, args.train_size)
    network = build_network(spec)
    optimizer = get_registry().optimizer(spec.train.optimizer_type)(**spec.train.optimizer_options)
    split = spec.data.create().load()["train"]
    batch = spec.train.batch_size
    batches = BatchIterator(
        split, batch, dtype=network.dtype, rng=np.random.default_rng(0), drop_last=True
    )

    clock = _Clock()
    convs = [layer for layer in network.layers if layer.name == "Conv2D"]
    for conv in convs:  # instance attributes shadow the methods: only these layers are timed
        conv._im2col = clock.wrap("im2col", conv._im2col)
        conv._col2im = clock.wrap("col2im", conv._col2im)
    # the order Network runs its layers in (layerkit.rewrites: ReLU after max pooling)
    body, loss_layer = network.execution_order, network.layers[-1]
    augmenter = Augmenter(
        load(args.spec, 1, args.train_size, augment=True).data.create_augmentations(),
        np.random.default_rng(0),
    )

    def step(x: np.ndarray, t: np.ndarray, timed: bool) -> None:
        for layer in body:
            t0 = time.perf_counter()
            x = layer.forward(x, train=True)
            if timed:
                clock.add(f"{layer.id} forward", time.perf_counter() - t0)
        t0 = time.perf_counter()
        loss_layer.forward(x, t)
        dout = loss_layer.backward(1.0)
        if timed:
            clock.add(f"{loss_layer.id} forward+backward", time.perf_counter() - t0)
        for layer in reversed(body):
            t0 = time.perf_counter()
            dout = layer.backward(dout)
            if timed:
                clock.add(f"{layer.id} backward", time.perf_counter() - t0)
            if dout is None:  # the first layer with weights: nothing below needs a gradient
                break
        t0 = time.perf_counter()
        optimizer.update(network.params, network.grads)
        if timed:
            clock.add("optimizer", time.perf_counter() - t0)

    steps = 0
    it = iter(batches)
    for _ in range(args.warmup):
        step(*next(it), timed=False)
    clock.seconds.clear()
    t_start = time.perf_counter()
    augment_seconds = 0.0
    for x, t in it:
        if steps == args.profile_steps:
            break
        step(x, t, timed=True)
        steps += 1
    step_seconds = (time.perf_counter() - t_start) / steps
    if augmenter:  # on the same batches again, timed on its own (the step above did not augment)
        for x, _ in batches:
            t0 = time.perf_counter()
            augmenter(x)
            augment_seconds += time.perf_counter() - t0
        augment_seconds /= len(batches)

    gemm: dict[str, float] = {}
    flops = 0.0
    for name, call, f in step_gemms(network, batch, np.random.default_rng(0)):
        call()
        t0 = time.perf_counter()
        for _ in range(steps):
            call()
        gemm[name] = (time.perf_counter() - t0) / steps
        flops += f
    per_step = {k: v / steps for k, v in clock.seconds.items() if k not in ("im2col", "col2im")}
    workspace = {conv.id: conv._ws.nbytes for conv in convs}
    whole_set_columns = {
        conv.id: int(np.prod(conv.params["W"].shape[1:]))
        * conv.window.oh
        * conv.window.ow
        * len(split)
        * 4
        for conv in convs
    }
    return {
        "batch_size": batch,
        "steps": steps,
        "step_seconds": step_seconds,
        "epoch_seconds_estimate": step_seconds * (len(split) // batch),
        "layer_seconds_per_step": per_step,
        "im2col_seconds_per_step": clock.seconds.get("im2col", 0.0) / steps,
        "col2im_seconds_per_step": clock.seconds.get("col2im", 0.0) / steps,
        "gemm_seconds_per_step": gemm,
        "gemm_total_seconds_per_step": sum(gemm.values()),
        "gemm_gflops_per_s": flops / sum(gemm.values()) / 1e9,
        "conv_workspace_bytes": workspace,
        "columns_of_the_whole_training_set_bytes": whole_set_columns,
        "train_samples": len(split),
        "params": int(sum(p.size for p in network.params.values())),
        "augmentations": [a.config() for a in augmenter.augmentations],
        "augment_seconds_per_step": augment_seconds,
    }


# ----------------------------------------------------------------------------- children


def child_main(args: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=args.threads)
    started = time.perf_counter()
    run = {"layerkit": run_layerkit, "torch": run_torch, "profile": run_profile}[args.child]
    return finish_child(run(args), started, args.result)


def run_child(impl: str, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    child_args = [
        "--child",
        impl,
        "--threads",
        str(threads),
        "--epochs",
        str(args.epochs),
        "--spec",
        str(args.spec),
        "--profile-steps",
        str(args.profile_steps),
        "--warmup",
        str(args.warmup),
    ]
    if args.train_size is not None:
        child_args += ["--train-size", str(args.train_size)]
    return run_in_child(
        __file__,
        child_args,
        threads=threads,
        keep_openblas_pins=args.keep_openblas_env,
        timeout=args.timeout,
    )


# ----------------------------------------------------------------------------- parent


def run_suite(args: argparse.Namespace) -> dict[str, Any]:
    meta = metadata(args)  # before the runs: its date and load average are those at the start
    cases = []
    timed = [i for i in args.impls if i != "profile"]
    for threads in args.threads:
        runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in timed}
        for rep in range(args.reps):
            for impl in rotated(timed, rep) if timed else []:
                result = run_child(impl, threads, args)
                runs[impl].append(result)
                note = (
                    result.get("error")
                    or f"{np.median(steady_epochs(result['epoch_seconds'])):.2f} s/epoch"
                )
                print(
                    f"threads={threads} rep {rep + 1} {impl}: {note}", file=sys.stderr, flush=True
                )
        profile = run_child("profile", threads, args) if "profile" in args.impls else None
        if profile is not None:
            note = profile.get("error") or f"{profile['step_seconds'] * 1e3:.1f} ms/step"
            print(f"threads={threads} profile: {note}", file=sys.stderr, flush=True)
        cases.append({"threads": threads, "impls": aggregate(runs), "profile": profile})
        # rewritten after every thread count: a run cut short still leaves its complete cases
        partial = {"meta": meta, "cases": cases}
        write_report(args.out_dir, "cnn_speed", partial, render_markdown(partial))
    return {"meta": meta, "cases": cases}


def aggregate(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for impl, reps in runs.items():
        good = [r for r in reps if "error" not in r]
        entry: dict[str, Any] = {"runs": reps}
        if not good:
            entry["error"] = reps[0]["error"] if reps else "not run"
        else:
            entry.update(
                s_per_epoch=summarize([t for r in good for t in steady_epochs(r["epoch_seconds"])]),
                test_accuracy=float(np.median([r["test_accuracy"] for r in good])),
                peak_rss_mib=max(r["peak_rss_mib"] for r in good),
                blas=describe_blas(good[-1]["blas"]),
            )
        out[impl] = entry
    return out


def metadata(args: argparse.Namespace) -> dict[str, Any]:
    spec = load(args.spec, args.epochs, args.train_size)
    return {
        **machine_metadata(args.keep_openblas_env),
        "versions": package_versions(("torch", "torch"), ("layerkit", "layerkit")),
        "spec": str(args.spec),
        "layers": [entry.type for entry in spec.model.layers],
        "batch_size": spec.train.batch_size,
        "optimizer": dict(spec.train.optimizer),
        "train_samples": _n_train(args.train_size),
        "epochs": args.epochs,
        "reps": args.reps,
        "threads": args.threads,
    }


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def render_markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    v = meta["versions"]
    lines = [
        "# layerkit CNN training speed",
        "",
        (
            f"{meta['date']} - {meta['cpu']}, {meta['cores']} cores, load average at start "
            f"{', '.join(f'{x:.2f}' for x in meta['load_average_at_start'])}; Python {v['python']}, "
            f"NumPy {v['numpy']}, PyTorch {v['torch']}, layerkit {v['layerkit']}."
        ),
        "",
        (
            f"`{Path(meta['spec']).name}`: {' - '.join(meta['layers'])}; batch {meta['batch_size']}, "
            f"{meta['optimizer']['type']}, float32, {meta['train_samples']:,} training samples. "
            f"{meta['epochs']} epochs x {meta['reps']} interleaved repetitions, each in its own process; "
            f"s/epoch = median of epochs 2..{meta['epochs']} pooled over repetitions (min-max); optimisation "
            f"steps only (layerkit's per-epoch test pass excluded, like PyTorch's)."
        ),
        "",
        "| threads | implementation | s/epoch (min-max) | samples/s | test acc | peak RSS MiB | BLAS |",
        "|---:|---|---|---:|---:|---:|---|",
    ]
    for case in report["cases"]:
        for impl, e in case["impls"].items():
            if "error" in e:
                lines.append(
                    f"| {case['threads']} | {LABELS[impl]} | failed: {e['error'][:80]} | | | | |"
                )
                continue
            s = e["s_per_epoch"]
            lines.append(
                f"| {case['threads']} | {LABELS[impl]} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}) | "
                f"{meta['train_samples'] / s['median']:,.0f} | {e['test_accuracy']:.4f} | "
                f"{e['peak_rss_mib']:.0f} | {e['blas']} |"
            )
    lines += ["", "layerkit's speedup over PyTorch (PyTorch s/epoch / layerkit s/epoch, same run):"]
    for case in report["cases"]:
        impls = case["impls"]
        lk, pt = impls.get("layerkit", {}), impls.get("torch", {})
        if "s_per_epoch" not in lk or "s_per_epoch" not in pt:
            continue
        speedup = pt["s_per_epoch"]["median"] / lk["s_per_epoch"]["median"]
        target = SPEEDUP_TARGETS.get(case["threads"])
        verdict = (
            f" (target {target:.2f}x: {'ok' if speedup >= target else 'MISS'})" if target else ""
        )
        lines.append(
            f"- {case['threads']} thread(s): **{speedup:.2f}x**{verdict}; peak RSS "
            f"{lk['peak_rss_mib']:.0f} MiB against {pt['peak_rss_mib']:.0f} MiB"
        )
    for case in report["cases"]:
        p = case.get("profile")
        if not p:
            continue
        if "error" in p:
            lines += ["", f"Profile, {case['threads']} thread(s): failed: {p['error']}"]
            continue
        step = p["step_seconds"]
        gemm, im2col, col2im = (
            p["gemm_total_seconds_per_step"],
            p["im2col_seconds_per_step"],
            p["col2im_seconds_per_step"],
        )
        layers = p["layer_seconds_per_step"]
        lines += [
            "",
            f"## Where a step goes, {case['threads']} thread(s)",
            "",
            (
                f"{p['steps']} steps of batch {p['batch_size']} after warm-up: {step * 1e3:.1f} ms/step "
                f"(about {p['epoch_seconds_estimate']:.1f} s/epoch), {p['params']:,} parameters. "
                f"GEMMs at the same shapes and layouts: {gemm * 1e3:.1f} ms/step = **{gemm / step:.0%}** of the "
                f"step ({p['gemm_gflops_per_s']:.0f} GFLOP/s); im2col copies {im2col * 1e3:.2f} ms "
                f"(**{im2col / step:.0%}**), col2im {col2im * 1e3:.2f} ms (**{col2im / step:.0%}**)."
            ),
            "",
            "| layer | forward ms | backward ms | share of step |",
            "|---|---:|---:|---:|",
        ]
        ids = list(dict.fromkeys(key.rsplit(" ", 1)[0] for key in layers))
        for lid in ids:
            fwd = layers.get(
                f"{lid} forward", layers.get(f"{lid} forward+backward", layers.get(lid))
            )
            bwd = layers.get(f"{lid} backward")
            total = (fwd or 0.0) + (bwd or 0.0)
            lines.append(
                f"| {lid} | {'-' if fwd is None else f'{fwd * 1e3:.2f}'} | "
                f"{'-' if bwd is None else f'{bwd * 1e3:.2f}'} | {total / step:.0%} |"
            )
        if p.get("augmentations"):
            names = ", ".join(a["type"] for a in p["augmentations"])
            aug = p["augment_seconds_per_step"]
            lines += [
                "",
                f"The spec's augmentations ({names}), timed on their own over one epoch of batches: "
                f"{aug * 1e3:.2f} ms/step = **{aug / step:.1%}** of a training step "
                "(not included in the timed runs above, which PyTorch does not augment either).",
            ]
        lines += [
            "",
            "GEMMs per step: "
            + ", ".join(f"{k} {t * 1e3:.2f} ms" for k, t in p["gemm_seconds_per_step"].items()),
        ]
        lines += [
            "",
            "Conv scratch memory (columns of one batch, reused): "
            + ", ".join(
                f"{k} {_mib(b)} (the columns of all {p['train_samples']:,} training images: "
                f"{_mib(p['columns_of_the_whole_training_set_bytes'][k])})"
                for k, b in p["conv_workspace_bytes"].items()
            )
            + ".",
        ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--spec", type=Path, default=DEFAULT_SPEC, help="the CNN spec (default %(default)s)"
    )
    p.add_argument(
        "--epochs", type=int, default=3, help="epochs per run (default 3; s/epoch uses 2..E)"
    )
    p.add_argument("--reps", type=int, default=2, help="interleaved repetitions (default 2)")
    p.add_argument("--threads", default="1,2", help="BLAS thread counts (default 1,2)")
    p.add_argument("--impls", default=",".join(IMPLS), help="comma-separated subset of %(default)s")
    p.add_argument(
        "--train-size", type=int, default=None, help="train on the first N samples (default all)"
    )
    p.add_argument(
        "--profile-steps", type=int, default=100, help="timed steps of the profile (default 100)"
    )
    p.add_argument(
        "--warmup", type=int, default=10, help="untimed steps before the profile (default 10)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 6,000 samples, 2 epochs, 1 repetition, 1 thread -> results/quick/",
    )
    add_process_arguments(p, IMPLS, timeout=3600.0)
    args = p.parse_args(argv)
    args.spec = args.spec.resolve()
    if args.child:
        args.threads = int(args.threads)
        return args
    if args.quick:
        args.epochs, args.reps = 2, 1
        args.train_size = args.train_size or 6000
        args.profile_steps = min(args.profile_steps, 30)
    check_process_arguments(p, args, IMPLS, RESULTS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    report = run_suite(args)
    markdown = render_markdown(report)
    print(markdown)
    md_path, json_path = write_report(args.out_dir, "cnn_speed", report, markdown)
    print(f"wrote {md_path} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
