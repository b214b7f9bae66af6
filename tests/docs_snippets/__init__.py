"""The Python snippets of the docs, included into the pages and run by the tests.

They are written as the docs show them, without type hints, as Flask's own
docs are.
"""
