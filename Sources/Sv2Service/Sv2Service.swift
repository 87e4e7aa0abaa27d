// Placeholder until the Sv2Service issue lands; see README.md.
