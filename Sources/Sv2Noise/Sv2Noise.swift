// Placeholder until the Sv2Noise issue lands; see README.md.
