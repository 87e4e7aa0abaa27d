// Placeholder until the Sv2Codec issue lands; see README.md.
