"""Companion library of "Deep Learning, Hands On".

Import the version for your framework, e.g. ``from d2l import torch as d2l``.
"""

__version__ = "0.1.0"
