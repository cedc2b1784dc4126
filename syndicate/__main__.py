"""``python -m syndicate``: the same command line as the ``syndicate`` script. No I/O of its own."""

from .cli import main

if __name__ == "__main__":
    main()
