"""Notification channels, paging, and the background sender that delivers both."""
