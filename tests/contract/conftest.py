from tests.graphql.conftest import Gql, gql  # noqa: F401 - fixtures
from tests.posts.conftest import flow, newsroom  # noqa: F401 - fixtures
