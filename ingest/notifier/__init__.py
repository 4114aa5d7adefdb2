"""The notifier: tells the right people about alerts and stop requests, over their own channels, exactly once."""
