"""The suite's fixtures and helpers live in tests/support/ (one plugin, registered here); no
test module imports another."""

pytest_plugins = [
    "tests.support.app",
    "tests.support.posts",
    "tests.support.publishing",
    "tests.support.graphql",
    "tests.support.access",
]
