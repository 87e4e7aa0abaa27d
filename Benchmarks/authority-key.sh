# Sourced by the benchmark scripts: authority_key LOG prints the Noise authority public key a server wrote to LOG,
# in either of the two forms our servers print it (`sv2 loadtest serve` and the NIO baseline: a command line with
# `--authority-public-key KEY`; `sv2 pool`: `authority public key: KEY`), or nothing.
authority_key() {
    sed -n -e 's/.*authority-public-key \([^ ]*\).*/\1/p' -e 's/^authority public key: \([^ ]*\).*/\1/p' "$1" | head -1
}
