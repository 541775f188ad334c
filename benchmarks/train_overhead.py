"""Library overhead of the book's training loops against hand-written loops doing the same work.

    .venv/bin/python benchmarks/train_overhead.py [--model softmax|lenet] [--examples N] [--repeats 5]

softmax: one epoch of softmax regression through d2l.train_epoch_ch3 (chapter 3).
lenet: one epoch of LeNet through d2l.train_ch6, with its test-set evaluation (chapter 6).
Fashion-MNIST-shaped data (28x28 inputs, 10 classes), per framework, in a fresh process
each. Both loops read the same minibatches, compute the same loss, take the same optimiser
step and track loss and accuracy; the report gives the median time of each and their ratio
(goal: the library within 10% of the hand loop).
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

TORCH_LENET = r"""
import os, statistics, sys, time, torch
os.environ['D2L_BUILD'] = '1'
import matplotlib; matplotlib.use('Agg')
from torch import nn
sys.path.insert(0, {repo!r})
from d2l import torch as d2l
torch.manual_seed(0)
n = {examples}
X, y = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))
train = d2l.load_array((X, y), 256)
test = d2l.load_array((X[:n // 5], y[:n // 5]), 256, is_train=False)
def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))
def library():
    d2l.train_ch6(lenet(), train, test, 1, 0.9, torch.device('cpu'))
def by_hand():
    net = lenet()
    for m in net:
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    opt = torch.optim.SGD(net.parameters(), lr=0.9)
    loss = nn.CrossEntropyLoss()
    net.train()
    total, correct, count = 0.0, 0.0, 0
    for X_b, y_b in train:
        y_hat = net(X_b)
        l = loss(y_hat, y_b)
        opt.zero_grad(); l.backward(); opt.step()
        total += float(l) * len(y_b)
        correct += float((y_hat.argmax(1) == y_b).sum())
        count += len(y_b)
    net.eval()
    hits = seen = 0
    with torch.no_grad():
        for X_b, y_b in test:
            hits += float((net(X_b).argmax(1) == y_b).sum()); seen += len(y_b)
    return total / count, correct / count, hits / seen
"""

MXNET_LENET = r"""
import os, statistics, sys, time
os.environ['D2L_BUILD'] = '1'
import matplotlib; matplotlib.use('Agg')
from mxnet import autograd, gluon, init, np, npx
from mxnet.gluon import nn
npx.set_np()
sys.path.insert(0, {repo!r})
from d2l import mxnet as d2l
npx.random.seed(0)
n = {examples}
X, y = np.random.uniform(size=(n, 1, 28, 28)), np.random.randint(0, 10, (n,))
train = d2l.load_array((X, y), 256)
test = d2l.load_array((X[:n // 5], y[:n // 5]), 256, is_train=False)
def lenet():
    net = nn.Sequential()
    net.add(nn.Conv2D(6, kernel_size=5, padding=2, activation='sigmoid'), nn.AvgPool2D(2, 2),
            nn.Conv2D(16, kernel_size=5, activation='sigmoid'), nn.AvgPool2D(2, 2),
            nn.Dense(120, activation='sigmoid'), nn.Dense(84, activation='sigmoid'), nn.Dense(10))
    return net
def library():
    d2l.train_ch6(lenet(), train, test, 1, 0.9, npx.cpu())
def by_hand():
    net = lenet()
    net.initialize(init.Xavier(), force_reinit=True)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {{'learning_rate': 0.9}})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    total, correct, count = 0.0, 0.0, 0
    for X_b, y_b in train:
        with autograd.record():
            y_hat = net(X_b)
            l = loss(y_hat, y_b)
        l.backward()
        trainer.step(X_b.shape[0])
        total += float(l.sum())
        correct += float((y_hat.argmax(axis=1).astype(y_b.dtype) == y_b).sum())
        count += y_b.size
    hits = seen = 0
    for X_b, y_b in test:
        hits += float((net(X_b).argmax(axis=1).astype(y_b.dtype) == y_b).sum()); seen += y_b.size
    return total / count, correct / count, hits / seen
"""

TIMING = r"""
library(); by_hand()  # warm up both paths
times = {{'library': [], 'by_hand': []}}
for _ in range({repeats}):
    for name, fn in (('library', library), ('by_hand', by_hand)):
        start = time.perf_counter(); fn(); times[name].append(time.perf_counter() - start)
print(json.dumps({{k: statistics.median(v) for k, v in times.items()}}))
"""


PROGRAMS = {("softmax", "pytorch"): TORCH, ("softmax", "mxnet"): MXNET,
            ("lenet", "pytorch"): TORCH_LENET, ("lenet", "mxnet"): MXNET_LENET}


def measure(model: str, framework: str, examples: int, repeats: int) -> dict:
    body = PROGRAMS[model, framework].format(repo=str(REPO), examples=examples)
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
    parser.add_argument("--model", choices=("softmax", "lenet"), default="softmax")
    parser.add_argument("--examples", type=int, default=None,
                        help="training examples (default: 60000, one Fashion-MNIST epoch)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    examples = args.examples or 60000  # one epoch of Fashion-MNIST
    report = {fw: measure(args.model, fw, examples, args.repeats) for fw in ("mxnet", "pytorch")}
    for fw, r in report.items():
        print(f"{fw:8s} library {r['library']:.3f} s  by hand {r['by_hand']:.3f} s  "
              f"ratio {r['ratio']:.3f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
