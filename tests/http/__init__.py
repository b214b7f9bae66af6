"""The HTTP suites, one module a behaviour, on real Redis servers."""
