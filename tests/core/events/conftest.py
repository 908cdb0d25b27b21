from tests.core.webhooks.helpers import received  # noqa: F401  (a fixture)
