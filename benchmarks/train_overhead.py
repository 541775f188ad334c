"""Library overhead of d2l.train_epoch_ch3 against a hand-written loop doing the same work.

    .venv/bin/python benchmarks/train_overhead.py [--examples 60000] [--repeats 5]

One epoch of softmax regression on Fashion-MNIST-shaped data (28x28 inputs, 10 classes),
per framework, in a fresh process each. Both loops read the same minibatches, compute the
same loss, take the same optimiser step and track loss and accuracy; the report gives the
median time of each and their ratio (goal: the library within 10% of the hand loop).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TORCH = r"""
import statistics, sys, time, torch
from torch import nn
sys.path.insert(0, {repo!r})
from d2l import torch as d2l
torch.manual_seed(0)
n = {examples}
X, y = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))
data = d2l.load_array((X, y), 256)
def model():
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    return net, torch.optim.SGD(net.parameters(), lr=0.1)
loss = nn.CrossEntropyLoss(reduction='none')
def library():
    net, opt = model()
    d2l.train_epoch_ch3(net, data, loss, opt)
def by_hand():
    net, opt = model()
    net.train()
    total, correct, count = 0.0, 0.0, 0
    for X_b, y_b in data:
        y_hat = net(X_b)
        l = loss(y_hat, y_b)
        opt.zero_grad()
        l.mean().backward()
        opt.step()
        total += float(l.sum())
        correct += float((y_hat.argmax(axis=1) == y_b).sum())
        count += y_b.numel()
    return total / count, correct / count
"""

MXNET = r"""
import statistics, sys, time
from mxnet import autograd, gluon, init, np, npx
from mxnet.gluon import nn
npx.set_np()
sys.path.insert(0, {repo!r})
from d2l import mxnet as d2l
npx.random.seed(0)
n = {examples}
X, y = np.random.uniform(size=(n, 1, 28, 28)), np.random.randint(0, 10, (n,))
data = d2l.load_array((X, y), 256)
def model():
    net = nn.Sequential()
    net.add(nn.Dense(10))
    net.initialize(init.Normal(0.01))
    return net, gluon.Trainer(net.collect_params(), 'sgd', {{'learning_rate': 0.1}})
loss = gluon.loss.SoftmaxCrossEntropyLoss()
def library():
    net, trainer = model()
    d2l.train_epoch_ch3(net, data, loss, trainer)
def by_hand():
    net, trainer = model()
    total, correct, count = 0.0, 0.0, 0
    for X_b, y_b in data:
        with autograd.record():
            y_hat = net(X_b)
            l = loss(y_hat, y_b)
        l.backward()
        trainer.step(X_b.shape[0])
        total += float(l.sum())
        correct += float((y_hat.argmax(axis=1).astype(y_b.dtype) == y_b).sum())
        count += y_b.size
    return total / count, correct / count
"""

TIMING = r"""
library(); by_hand()  # warm up both paths
times = {{'library': [], 'by_hand': []}}
for _ in range({repeats}):
    for name, fn in (('library', library), ('by_hand', by_hand)):
        start = time.perf_counter(); fn(); times[name].append(time.perf_counter() - start)
print(json.dumps({{k: statistics.median(v) for k, v in times.items()}}))
"""


def measure(framework: str, examples: int, repeats: int) -> dict:
    body = (TORCH if framework == "pytorch" else MXNET).format(repo=str(REPO), examples=examples)
    code = "import json\n" + body + TIMING.format(repeats=repeats)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{framework} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["ratio"] = result["library"] / result["by_hand"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    report = {fw: measure(fw, args.examples, args.repeats) for fw in ("mxnet", "pytorch")}
    for fw, r in report.items():
        print(f"{fw:8s} library {r['library']:.3f} s  by hand {r['by_hand']:.3f} s  "
              f"ratio {r['ratio']:.3f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
