"""What users pay with: Stripe's API and webhooks, App Store notifications, the subscription
store in UserDB and the one entitlement rule over both sources."""
