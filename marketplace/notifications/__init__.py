"""Notifications: an in-app message centre for every user, and e-mail through the outbox when SMTP is configured."""
