// Placeholder until the Sv2Mining issue lands; see README.md.
