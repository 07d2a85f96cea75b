"""Job-event webhooks: signed deliveries to the subscribed endpoints."""
