"""Sharing what was made: the Hub-ready dataset folder with its audit and upload (hub), its dataset card
(card), and YAML recipes that run a whole job from data to published folder (recipe)."""

from .hub import publish
from .recipe import load_recipe, run_recipe

__all__ = ["load_recipe", "publish", "run_recipe"]
