// Placeholder entry point; the apps land with the Sv2Mining issue.
print("sv2: under construction")
