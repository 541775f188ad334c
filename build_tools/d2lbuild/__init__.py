"""d2lbuild: the build tool of the executable deep-learning book.

Stages, each a module with one job: ``config`` (config.ini), ``source`` (parse one Markdown
file), ``book`` (the table of contents, numbers and labels), ``savemarks`` and ``library``
(the ``#@save`` library), ``translate`` and ``notebooks`` (per-framework notebooks),
``checks`` (source checks), the ``eval`` stage (``engine``, with ``cache``, ``deps``,
``scheduler``, ``executor``, ``gpus`` and ``progress``), the website (``merge``, ``myst``,
``sitesrc``, ``website``, ``vendor`` and the Sphinx extension ``sphinx_ext``), the
authors' workflow (``serve``: live preview; ``roundtrip``: ``open`` and ``writeback`` of a
section in Jupyter; ``changed``: the sections a git diff affects) and ``cli`` (the command
line).
"""

__version__ = "0.1.0"
