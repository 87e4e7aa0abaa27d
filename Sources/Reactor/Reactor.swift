// Placeholder until the Reactor issue lands; see README.md.
