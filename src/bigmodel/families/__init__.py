"""One package per family of large models. A family never imports another family.

A family may provide `cli.py` (with `register(app)`) and `zoo.py` (with `MEMBERS`); both are
found at start-up, so adding a family touches nothing outside its folder.
"""
