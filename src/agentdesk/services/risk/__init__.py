"""Risk: blocklists, KYC/AML/EDD compliance, privacy (merge, anonymise)."""
