"""Package layout, as one rule: the design card's top-level folders are edgec's subpackages
(compiler/ -> edgec.compiler, ...), every package below them is found by find_packages, and
edgec/ is the top-level package. Metadata and dependencies are in pyproject.toml."""
from setuptools import find_packages, setup

ROOTS = ("compiler", "runtime", "models", "targets")  # edgec.<root> lives in <root>/


def packages() -> list[str]:
    found = find_packages(include=["edgec", "edgec.*"])
    for root in ROOTS:
        found += [f"edgec.{p}" for p in find_packages(include=[root, f"{root}.*"])]
    return found


if __name__ == "__main__":  # pip's build runs this file as __main__; tests read packages() only
    setup(package_dir={"edgec": "edgec", **{f"edgec.{root}": root for root in ROOTS}}, packages=packages())
