"""One module per provider, each turning an `Outgoing` message into a request and the
provider's answer into an `Outcome` (delivered, worth retrying, or refused for good)."""
