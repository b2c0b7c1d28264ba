"""Allows `python -m ops ...` as an alias of the `chefchatz` console script."""

from ops.cli import main

if __name__ == "__main__":
    main()
