"""The security bar: one test (or a few) per SECURITY_CHECKLIST item, named by its id."""
