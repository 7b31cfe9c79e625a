"""Process-level runtime settings of the command-line entry points (``homodyne-gpu``).

Nothing here is applied on import: the entry points call what they need.
"""
