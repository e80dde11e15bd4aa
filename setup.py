"""The packages, which pyproject.toml cannot state alone: every folder with an __init__.py under synth/ and
bench/ (found, so a new index plug-in folder needs no edit anywhere), plus the card templates of the top-level
cards/ folder, installed as the package synth.cards."""

from setuptools import find_packages, setup

PACKAGES = find_packages(include=["synth", "synth.*", "bench", "bench.*"])

setup(packages=[*PACKAGES, "synth.cards"], package_dir={"synth.cards": "cards"})
