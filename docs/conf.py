import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "artstore"
author = "the artstore developers"
from artstore import __version__ as release  # noqa: E402

version = release
extensions = ["sphinx.ext.autodoc", "sphinx_click"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False}
html_theme = "alabaster"
exclude_patterns = ["_build"]
nitpicky = False
