"""Content: the rules posts are checked against, and the checks themselves."""
