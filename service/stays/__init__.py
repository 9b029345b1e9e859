"""Guest registrations: stays, their guests, check-in and check-out."""
