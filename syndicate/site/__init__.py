"""Site on disk: the trees the publisher writes and web workers read. No I/O here.

``manifest`` is the live tree (every document as a file with its ``.gz``, and the
manifest that names them): its one writer and its one reader. ``files`` is the static
tree of ``syndicate build`` and the atomic swap that puts it in place.

Light on purpose: web workers import ``manifest``, not the publishing stack.
"""
