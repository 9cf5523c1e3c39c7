"""The auth role (the gatekeeper): knows who the user is; never where they connect."""
