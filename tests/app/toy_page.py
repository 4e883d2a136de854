"""A page added through the registry alone (tests/app/test_registry.py registers its record)."""
from ntk.app import page

page.render("toy")
