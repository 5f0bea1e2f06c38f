"""Dataset sources, one file each; importing a module registers its datasets.

``tlcore.data`` imports them all, in the order the UI lists them.
"""
