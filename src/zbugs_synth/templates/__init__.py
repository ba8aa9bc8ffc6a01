"""Template packs: the text pools issues, comments and projects are built from."""

from zbugs_synth.templates.loader import bundled_pack_dir, load_pack
from zbugs_synth.templates.model import SLOTS, Category, Pools, ProjectTemplate, TemplatePack

__all__ = ["SLOTS", "Category", "Pools", "ProjectTemplate", "TemplatePack", "bundled_pack_dir", "load_pack"]
